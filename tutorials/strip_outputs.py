#!/usr/bin/env python
"""Clear the outputs and execution counts of notebooks, in place: python tutorials/strip_outputs.py tutorials/*.ipynb"""
import json
import sys


def strip(path):
    with open(path, encoding="utf-8") as f:
        notebook = json.load(f)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("execution", None)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(notebook, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        strip(name)
