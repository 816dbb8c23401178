#include <quarry/plugin.hpp>

#include "image_folder.hpp"

QUARRY_PLUGIN("image_folder", "1.0.0") {
  registrar.dataset<quarry::image_folder::ImageFolder>(
      "image_folder",
      "Your own JPEG/PNG images: train/ and test/ with one sub-folder per class (or one folder and test_fraction), "
      "decoded once and cached",
      quarry::image_folder::ImageFolder::params());
}
