"""The catalog: every data set tinydl knows by name, and what it knows about each.

One row per data set (:class:`MedMNISTInfo`): its task, classes, channels,
split sizes, file name, MD5 and download address, and where the images come
from. The real MedMNIST sets and tinydl's own synthetic stand-in are listed
here side by side, so that the modules that *read* them (``medmnist.py``
finds, checks and loads files; ``synthetic.py`` generates images) both depend
on this table and not on each other.
"""

from dataclasses import dataclass, field

SPLITS = ("train", "val", "test")
IMAGE_SIZE = 28
ZENODO_RECORD = "10519652"  # MedMNIST v3.0 (MedMNIST+)
MEDMNIST_CITATION = (
    "Jiancheng Yang, Rui Shi, Donglai Wei, Zequan Liu, Lin Zhao, Bilian Ke, Hanspeter Pfister, "
    "Bingbing Ni. MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image "
    "classification. Scientific Data 10, 41 (2023)."
)


@dataclass(frozen=True)
class MedMNISTInfo:
    """One row of the table: everything tinydl knows about a MedMNIST data set."""

    name: str  # key, e.g. "pneumoniamnist"
    title: str  # e.g. "PneumoniaMNIST"
    md5: str  # of the 28×28 file on Zenodo
    task: str  # "binary-class", "multi-class", "multi-label, binary-class", "ordinal-regression"
    classes: tuple  # label index → name
    n_channels: int  # 1 grey, 3 colour
    n_samples: dict  # {"train": ..., "val": ..., "test": ...}
    modality: str
    description: str
    source_citation: str  # the data the images were made from; cite it together with MEDMNIST_CITATION
    license: str = "CC BY 4.0"
    citation: str = field(default=MEDMNIST_CITATION, repr=False)

    @property
    def file_name(self):
        return f"{self.name}.npz"

    @property
    def url(self):
        return f"https://zenodo.org/records/{ZENODO_RECORD}/files/{self.file_name}?download=1"

    @property
    def n_classes(self):
        return len(self.classes)

    @property
    def multi_label(self):
        return self.task.startswith("multi-label")


_ORGANS = (
    "bladder",
    "femur-left",
    "femur-right",
    "heart",
    "kidney-left",
    "kidney-right",
    "liver",
    "lung-left",
    "lung-right",
    "pancreas",
    "spleen",
)
_ORGAN_SOURCE = (
    "Bilic et al., The Liver Tumor Segmentation Benchmark (LiTS), Medical Image Analysis 2023; "
    "Xu et al., Efficient multiple organ localization in CT image using 3D region proposal "
    "network, IEEE TMI 2019."
)
_KERMANY = (
    "Kermany et al., Identifying medical diagnoses and treatable diseases by image-based deep learning, Cell 2018."
)


def _info(
    name, title, md5, task, classes, n_channels, train, val, test, modality, description, source, license="CC BY 4.0"
):
    return MedMNISTInfo(
        name,
        title,
        md5,
        task,
        tuple(classes),
        n_channels,
        {"train": train, "val": val, "test": test},
        modality,
        description,
        source,
        license,
    )


# The one table. MD5s, split sizes, class names and licences are the official MedMNIST v3.0 values
# (the MedMNIST project's medmnist/info.py, version 3.0.2, Zenodo record 10519652).
# One row per data set, laid out as a table (the formatter leaves it alone).
# fmt: off
MEDMNIST = {info.name: info for info in (
    _info("pathmnist", "PathMNIST", "a8b06965200029087d5bd730944a56c1", "multi-class",
          ["adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
           "cancer-associated stroma", "colorectal adenocarcinoma epithelium"],
          3, 89996, 10004, 7180, "colon pathology (H&E-stained tissue patches)",
          "9 tissue types in colorectal cancer histology; the test set comes from a different clinical centre.",
          "Kather et al., Predicting survival from colorectal cancer histology slides using deep learning, "
          "PLOS Medicine 2019."),
    _info("chestmnist", "ChestMNIST", "02c8a6516a18b556561a56cbdd36c4a8", "multi-label, binary-class",
          ["atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
           "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"],
          1, 78468, 11219, 22433, "chest X-ray (frontal)",
          "14 text-mined findings per image (each 0 or 1, several at once); official NIH split.",
          "Wang et al., ChestX-ray8: hospital-scale chest X-ray database and benchmarks, CVPR 2017."),
    _info("dermamnist", "DermaMNIST", "0744692d530f8e62ec473284d019b0c7", "multi-class",
          ["actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
           "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
           "vascular lesions"],
          3, 7007, 1003, 2005, "dermatoscopy (pigmented skin lesions)",
          "7 diagnoses of pigmented skin lesions (HAM10000).",
          "Tschandl et al., The HAM10000 dataset, Scientific Data 2018; Codella et al., ISIC 2018, arXiv 2019.",
          license="CC BY-NC 4.0"),   # v3.0 lists DermaMNIST as non-commercial
    _info("octmnist", "OCTMNIST", "c68d92d5b585d8d81f7112f81e2d0842", "multi-class",
          ["choroidal neovascularization", "diabetic macular edema", "drusen", "normal"],
          1, 97477, 10832, 1000, "retinal optical coherence tomography (OCT)",
          "4 diagnoses from retinal OCT scans.", _KERMANY),
    _info("pneumoniamnist", "PneumoniaMNIST", "28209eda62fecd6e6a2d98b1501bb15f", "binary-class",
          ["normal", "pneumonia"],
          1, 4708, 524, 624, "chest X-ray (paediatric, frontal)",
          "Pneumonia versus normal in children's chest X-rays; about 3 in 4 training images show pneumonia.",
          _KERMANY),
    _info("retinamnist", "RetinaMNIST", "bd4c0672f1bba3e3a89f0e4e876791e4", "ordinal-regression",
          ["grade 0", "grade 1", "grade 2", "grade 3", "grade 4"],
          3, 1080, 120, 400, "retinal fundus photograph",
          "Diabetic retinopathy severity, grades 0-4 (ordered; often treated as 5 classes).",
          "Liu et al., DeepDRiD: Diabetic Retinopathy - Grading and Image Quality Estimation Challenge, "
          "Patterns 2022."),
    _info("breastmnist", "BreastMNIST", "750601b1f35ba3300ea97c75c52ff8f6", "binary-class",
          ["malignant", "normal, benign"],
          1, 546, 78, 156, "breast ultrasound",
          "Malignant versus normal-or-benign breast ultrasound images.",
          "Al-Dhabyani et al., Dataset of breast ultrasound images, Data in Brief 2020."),
    _info("bloodmnist", "BloodMNIST", "7053d0359d879ad8a5505303e11de1dc", "multi-class",
          ["basophil", "eosinophil", "erythroblast",
           "immature granulocytes (myelocytes, metamyelocytes and promyelocytes)", "lymphocyte", "monocyte",
           "neutrophil", "platelet"],
          3, 11959, 1712, 3421, "blood cell microscopy",
          "8 types of normal blood cells from healthy donors.",
          "Acevedo et al., A dataset of microscopic peripheral blood cell images for development of "
          "automatic recognition systems, Data in Brief 2020."),
    _info("tissuemnist", "TissueMNIST", "ebe78ee8b05294063de985d821c1c34b", "multi-class",
          ["Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule", "Glomerular endothelial cells",
           "Interstitial endothelial cells", "Leukocytes", "Podocytes", "Proximal Tubule Segments",
           "Thick Ascending Limb"],
          1, 165466, 23640, 47280, "kidney cortex cell microscopy",
          "8 kidney cortex cell types (maximum projection of 7 microscope slices).",
          "Ljosa et al., Annotated high-throughput microscopy image sets for validation (BBBC051), "
          "Nature Methods 2012."),
    _info("organamnist", "OrganAMNIST", "68e3f8846a6bd62f0c9bf841c0d9eacc", "multi-class", _ORGANS,
          1, 34561, 6491, 17778, "abdominal CT (axial slices)",
          "11 body organs in axial CT slices.", _ORGAN_SOURCE),
    _info("organcmnist", "OrganCMNIST", "b9ceb9546e10131b32923c5bbeaea2b1", "multi-class", _ORGANS,
          1, 12975, 2392, 8216, "abdominal CT (coronal slices)",
          "11 body organs in coronal CT slices.", _ORGAN_SOURCE),
    _info("organsmnist", "OrganSMNIST", "9ab87b696fb54e2a387ebe992d6ed5f1", "multi-class", _ORGANS,
          1, 13932, 2452, 8827, "abdominal CT (sagittal slices)",
          "11 body organs in sagittal CT slices.", _ORGAN_SOURCE),
)}
# fmt: on


def get_info(name):
    """The table row for ``name`` ("pneumoniamnist", "PneumoniaMNIST" or "pneumonia"); ValueError if unknown."""
    key = str(name).strip().lower()
    if key.endswith(".npz"):
        key = key[:-4]
    if key not in MEDMNIST and key + "mnist" in MEDMNIST:
        key += "mnist"
    if key not in MEDMNIST:
        raise ValueError(f"unknown MedMNIST data set {name!r}; known: {', '.join(MEDMNIST)}")
    return MEDMNIST[key]


def check_split(split):
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return split


# The built-in stand-in (tinydl.data.synthetic), listed like a MedMNIST set so that it can be used in its place.
SYNTHETIC_SIZES = {"train": 2000, "val": 500, "test": 500}

SYNTHETIC_INFO = MedMNISTInfo(
    name="synthetic-lesions",
    title="SyntheticLesions",
    md5="",
    task="binary-class",
    classes=("normal", "lesion"),
    n_channels=1,
    n_samples=dict(SYNTHETIC_SIZES),
    modality="synthetic (generated by tinydl, not medical data)",
    description="Textured grey 'tissue', half with a round bright 'lesion'; for offline tests and demos.",
    source_citation="none (generated)",
    license="MIT (part of tinydl)",
    citation="none (generated)",
)
