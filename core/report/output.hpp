// Writing the report folder's files: plain files, and figures as SVG plus PNG (rsvg-convert,
// else headless chromium). Internal to core/report: report.hpp does not include it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace quarry::report {

/// Letters, digits, '-' and '.' kept, the rest '_': a file name part from a label.
std::string slug(const std::string& s);

/// Write `content` to `path` (appended to `written`); an Error says why it could not.
void write_file(const std::filesystem::path& path, const std::string& content,
                std::vector<std::filesystem::path>& written);

/// A figure written as `<base>.svg` and, when asked and a renderer works, `<base>.png`.
struct Figure {
  std::string title, svg, svg_file, png_file;  ///< file names relative to the report folder
};

/// Write the figure; `renderer` gets the PNG renderer used ("" when none worked: a warning
/// goes to `warnings`).
Figure write_figure(const std::filesystem::path& out, const std::string& base, const std::string& title,
                    const std::string& svg, bool png, std::vector<std::filesystem::path>& written,
                    std::string& renderer, std::vector<std::string>& warnings);

}  // namespace quarry::report
