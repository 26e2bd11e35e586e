"""Input pipelines: BigGAN preprocessing and TFDS / image-folder / TFRecord / digits sources."""

from tfbiggan.data.digits import load_digits_images
from tfbiggan.data.folder import folder_source
from tfbiggan.data.folder import scan_image_folder
from tfbiggan.data.metadata import class_names
from tfbiggan.data.metadata import register_reader
from tfbiggan.data.pipeline import default_config
from tfbiggan.data.pipeline import distribute
from tfbiggan.data.pipeline import make_dataset
from tfbiggan.data.pipeline import resolve_config
from tfbiggan.data.preprocessing import center_crop_square
from tfbiggan.data.preprocessing import preprocess_image
from tfbiggan.data.preprocessing import random_flip
from tfbiggan.data.preprocessing import scale_to_unit_range
from tfbiggan.data.preprocessing import to_rgb
from tfbiggan.data.sources import SOURCES
from tfbiggan.data.sources import digits_source
from tfbiggan.data.sources import make_source
from tfbiggan.data.sources import tfds_source
from tfbiggan.data.tfrecords import scan_tfrecords
from tfbiggan.data.tfrecords import tfrecord_source
from tfbiggan.data.tfrecords import write_tfrecords
