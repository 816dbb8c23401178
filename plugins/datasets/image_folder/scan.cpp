#include "scan.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>

#include <quarry/error.hpp>

namespace quarry::image_folder {

namespace fs = std::filesystem;

namespace {

bool hidden(const fs::path& p) {
  const auto name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

std::int64_t mtime_ns(const fs::directory_entry& e) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(e.last_write_time().time_since_epoch()).count();
}

struct Fnv {
  std::uint64_t h = 14695981039346656037ull;
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  void text(const std::string& s) {
    bytes(s.data(), s.size());
    bytes("\0", 1);
  }
  template <typename T>
  void number(T v) {
    bytes(&v, sizeof v);
  }
};

}  // namespace

bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

FolderListing list_folder(const std::string& who, const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw Error(who + ": '" + root.string() + "' is not a directory; expected one sub-folder of images per class");
  FolderListing out;
  out.root = root;
  std::vector<fs::path> class_dirs;
  try {
    for (const auto& e : fs::directory_iterator(root)) {
      if (hidden(e.path())) continue;
      if (e.is_directory())
        class_dirs.push_back(e.path());
      else
        out.other_files.push_back(e.path());
    }
    std::sort(class_dirs.begin(), class_dirs.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
    if (class_dirs.empty())
      throw Error(who + ": '" + root.string() + "' has no class folders; expected one sub-folder of images per class");
    for (std::size_t label = 0; label < class_dirs.size(); ++label) {
      out.class_names.push_back(class_dirs[label].filename().string());
      std::vector<ImageFile> files;
      for (auto it = fs::recursive_directory_iterator(class_dirs[label], fs::directory_options::follow_directory_symlink);
           it != fs::recursive_directory_iterator(); ++it) {
        if (hidden(it->path())) {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_directory()) continue;
        if (!has_image_extension(it->path())) {
          out.other_files.push_back(it->path());
          continue;
        }
        files.push_back({it->path(), static_cast<std::int64_t>(label), it->file_size(), mtime_ns(*it)});
      }
      std::sort(files.begin(), files.end(), [](const ImageFile& a, const ImageFile& b) { return a.path < b.path; });
      if (files.empty()) out.empty_classes.push_back(out.class_names.back());
      out.files.insert(out.files.end(), files.begin(), files.end());
    }
  } catch (const fs::filesystem_error& e) {
    throw Error(who + ": cannot read '" + root.string() + "': " + e.what());
  }
  return out;
}

std::string content_key(const std::string& salt, const std::vector<const FolderListing*>& listings) {
  Fnv f;
  f.text(salt);
  for (const auto* l : listings) {
    f.text(l->root.string());
    f.number(l->class_names.size());
    for (const auto& c : l->class_names) f.text(c);
    for (const auto& file : l->files) {
      f.text(file.path.lexically_relative(l->root).string());
      f.number(static_cast<std::uint64_t>(file.size));
      f.number(file.mtime_ns);
      f.number(file.label);
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(f.h));
  return hex;
}

}  // namespace quarry::image_folder
