"""tinydl.data — medical image data sets, your own image folders, batching and augmentation.

    from tinydl import data
    train = data.MedMNIST("pneumoniamnist", "train")        # real chest X-rays, 28×28
    x, y = train.arrays()                                    # float32 (N, 1, 28, 28), int64 (N,)
    loader = data.DataLoader(train, batch_size=64, shuffle=True, seed=0,
                             transform=data.default_augmentation())
    print(data.datasets_table())                             # what is known, what is on disk

Modules: ``catalog`` (the table of known data sets, MedMNIST and synthetic),
``medmnist`` (finding, checking, downloading and reading MedMNIST files), ``image_folder`` (folders of PNG/JPEG, single images), ``synthetic``
(a built-in offline stand-in), ``load`` (``load_dataset`` with an explicit
synthetic fallback), ``loader`` (``DataLoader``), ``checks`` (the checks every split passes), ``transforms``,
``segmentation`` (images with masks: MedSegBench-style .npz files, image+mask folders, CT windowing,
MR normalisation, synthetic organs; ``load_segmentation``), ``paired`` (augmentation applied alike to
image and mask).

Only NumPy and the standard library are imported here; Pillow and urllib
load when an image is read or a file downloaded.
"""

from . import folders, paired, segmentation, transforms
from .base import (
    ChecksumError,
    DataFileError,
    DataFileNotFoundError,
    DownloadError,
    ImageDataset,
    images_to_nchw,
)
from .catalog import MEDMNIST, MEDMNIST_CITATION, SPLITS, SYNTHETIC_INFO, MedMNISTInfo, get_info
from .checks import (
    check_images,
    check_images_and_labels,
    check_images_and_masks,
    check_labels,
    check_masks,
    numpy_file_problem,
    pickle_refusal,
)
from .image_folder import IMAGE_EXTENSIONS, ImageFolder, bit_depth_of, load_image, load_images, scaling_text
from .load import SyntheticFallbackWarning, describe_source, load_dataset
from .loader import DataLoader
from .medmnist import (
    DatasetStatus,
    MedMNIST,
    available,
    cache_dir,
    datasets_table,
    download,
    download_file,
    find_file,
    md5,
    read_split,
    search_dirs,
    verify_md5,
)
from .paired import (
    ImageOnly,
    PairedCompose,
    PairedElastic,
    PairedRandomAffine,
    PairedRandomFlip,
    PairedTransform,
    resize_images,
    resize_masks,
    segmentation_augmentation,
)
from .segmentation import (
    SEGMENTATION,
    SegmentationDataset,
    SegmentationFolder,
    SegmentationInfo,
    SegmentationNPZ,
    SyntheticSegmentation,
    apply_intensity,
    ct_window,
    download_segmentation,
    find_segmentation_file,
    load_segmentation,
    minmax_normalize,
    mr_normalize,
    resolve_intensity,
    segmentation_cache_dir,
    segmentation_search_dirs,
    segmentation_table,
)
from .synthetic import SyntheticLesions, make_lesion_images
from .transforms import (
    Compose,
    GaussianNoise,
    RandomBrightnessContrast,
    RandomFlip,
    RandomRotation,
    RandomShift,
    Rescale,
    Standardize,
    channel_mean_std,
    default_augmentation,
    rotate,
)

__all__ = [
    "MedMNIST",
    "MedMNISTInfo",
    "MEDMNIST",
    "MEDMNIST_CITATION",
    "SPLITS",
    "get_info",
    "available",
    "datasets_table",
    "DatasetStatus",
    "md5",
    "verify_md5",
    "download",
    "download_file",
    "find_file",
    "search_dirs",
    "cache_dir",
    "read_split",
    "ImageFolder",
    "load_image",
    "load_images",
    "bit_depth_of",
    "scaling_text",
    "IMAGE_EXTENSIONS",
    "SyntheticLesions",
    "SYNTHETIC_INFO",
    "make_lesion_images",
    "load_dataset",
    "describe_source",
    "SyntheticFallbackWarning",
    "DataLoader",
    "check_images_and_labels",
    "check_images",
    "check_labels",
    "check_images_and_masks",
    "check_masks",
    "numpy_file_problem",
    "pickle_refusal",
    "ImageDataset",
    "images_to_nchw",
    "transforms",
    "Compose",
    "Rescale",
    "Standardize",
    "channel_mean_std",
    "RandomFlip",
    "RandomRotation",
    "RandomShift",
    "GaussianNoise",
    "RandomBrightnessContrast",
    "rotate",
    "default_augmentation",
    "DataFileNotFoundError",
    "DataFileError",
    "ChecksumError",
    "DownloadError",
    "paired",
    "segmentation",
    "ImageOnly",
    "PairedCompose",
    "PairedElastic",
    "PairedRandomAffine",
    "PairedRandomFlip",
    "PairedTransform",
    "resize_images",
    "resize_masks",
    "segmentation_augmentation",
    "SEGMENTATION",
    "SegmentationDataset",
    "SegmentationFolder",
    "SegmentationInfo",
    "SegmentationNPZ",
    "SyntheticSegmentation",
    "apply_intensity",
    "ct_window",
    "download_segmentation",
    "find_segmentation_file",
    "load_segmentation",
    "minmax_normalize",
    "mr_normalize",
    "resolve_intensity",
    "segmentation_cache_dir",
    "segmentation_search_dirs",
    "segmentation_table",
]
