// Listing an image folder (torchvision's ImageFolder layout) and the key of its content.
// Torch-free.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace quarry::image_folder {

/// One image file of a class folder.
struct ImageFile {
  std::filesystem::path path;
  std::int64_t label = 0;
  std::uintmax_t size = 0;
  std::int64_t mtime_ns = 0;
};

/// A folder of class folders: class names sorted (byte order, as Python's sorted()), files
/// sorted by their path relative to their class folder, found recursively. Hidden entries
/// (names starting with '.') are left out.
struct FolderListing {
  std::filesystem::path root;
  std::vector<std::string> class_names;
  std::vector<ImageFile> files;
  std::vector<std::string> empty_classes;  ///< class folders without a file
  std::vector<std::filesystem::path> other_files;  ///< files directly in root, or not .jpg/.jpeg/.png
};

/// List `root`. Throws quarry::Error naming `who` and the folder when it is missing, holds no
/// class folder, or cannot be read.
FolderListing list_folder(const std::string& who, const std::filesystem::path& root);

/// True for .jpg, .jpeg and .png (any case).
bool has_image_extension(const std::filesystem::path& path);

/// A 64-bit FNV-1a hash, as 16 hex digits, of `salt` and every listing's files (relative
/// path, size, modification time): it changes whenever a file is added, removed, renamed,
/// rewritten or touched.
std::string content_key(const std::string& salt, const std::vector<const FolderListing*>& listings);

}  // namespace quarry::image_folder
