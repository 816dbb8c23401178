// Report files and figures: SVG -> PNG at 1.5x via rsvg-convert, else headless chromium.
#include "core/report/output.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "core/util/process.hpp"
#include "quarry/error.hpp"

namespace quarry::report {

namespace fs = std::filesystem;

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  return out.empty() ? "_" : out;
}

void write_file(const fs::path& path, const std::string& content, std::vector<fs::path>& written) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error("quarry report: cannot write " + path.string() + " (is the --out folder writable?)");
  out << content;
  if (!out) throw Error("quarry report: writing " + path.string() + " failed (disk full?)");
  written.push_back(path);
}

namespace {

/// A renderer that cannot even be started (fork failed) is one that did not work: the report
/// goes on without that PNG, as without a renderer.
bool ran(const std::vector<std::string>& argv, double timeout_s) {
  try {
    return quarry::run_program(argv, timeout_s, false).status == 0;
  } catch (const Error&) {
    return false;
  }
}

/// SVG (width x height CSS pixels) -> PNG at 1.5x with rsvg-convert, else headless chromium. Returns the
/// renderer used, "" if none worked.
std::string render_png(const fs::path& svg_file, const fs::path& png_file, double width, double height) {
  if (auto rsvg = quarry::find_executable("rsvg-convert")) {
    if (ran({rsvg->string(), "--zoom=1.5", "--background-color=white", "-o", png_file.string(), svg_file.string()},
            60) &&
        fs::exists(png_file))
      return "rsvg-convert";
  }
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    auto exe = quarry::find_executable(name);
    if (!exe) continue;
    const fs::path profile = png_file.parent_path() / ".chromium-profile";
    const bool ok = ran({exe->string(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                         "--force-device-scale-factor=1.5", "--user-data-dir=" + profile.string(),
                         "--screenshot=" + png_file.string(),
                         fmt::format("--window-size={},{}", static_cast<int>(std::ceil(width)),
                                     static_cast<int>(std::ceil(height))),
                         "file://" + fs::absolute(svg_file).string()},
                        120);
    std::error_code ec;
    fs::remove_all(profile, ec);
    if (ok && fs::exists(png_file)) return "chromium";
  }
  return "";
}

double svg_dimension(const std::string& svg, const char* attr) {
  const auto at = svg.find(std::string(attr) + "=\"");
  return at == std::string::npos ? 800 : std::atof(svg.c_str() + at + std::string(attr).size() + 2);
}

}  // namespace

Figure write_figure(const fs::path& out, const std::string& base, const std::string& title, const std::string& svg,
                    bool png, std::vector<fs::path>& written, std::string& renderer,
                    std::vector<std::string>& warnings) {
  Figure f;
  f.title = title;
  f.svg = svg;
  f.svg_file = base + ".svg";
  write_file(out / f.svg_file, f.svg, written);
  if (!png) return f;
  const std::string r =
      render_png(out / f.svg_file, out / (base + ".png"), svg_dimension(svg, "width"), svg_dimension(svg, "height"));
  if (!r.empty()) {
    f.png_file = base + ".png";
    written.push_back(out / f.png_file);
    renderer = r;
  } else {
    warnings.push_back("no PNG for " + f.svg_file +
                       ": neither rsvg-convert (Debian: librsvg2-bin) nor chromium rendered it");
  }
  return f;
}

}  // namespace quarry::report
