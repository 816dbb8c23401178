// A small SVG writer for line charts with error bands: enough for learning curves,
// no dependencies. The output is plain SVG 1.1 that rsvg-convert, browsers and
// inline HTML all read the same way.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace quarry::svg {

/// Okabe & Ito (2008) colour-blind-safe palette, most distinguishable first
/// (yellow last: it is faint on white).
const std::vector<std::string>& palette();
/// Dash patterns ("" = solid) for telling lines of one colour apart.
const std::vector<std::string>& dash_patterns();

/// Escape &, <, >, " and ' for XML text and attribute values.
std::string escape(const std::string& text);

/// "Nice" tick positions covering [lo, hi] (steps of 1, 2 or 5 x 10^k), about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

/// Collects SVG elements; `str()` wraps them in the root element.
class Document {
 public:
  Document(double width, double height) : width_(width), height_(height) {}
  double width() const { return width_; }
  double height() const { return height_; }

  /// `title`: shown on hover (an SVG <title> child), e.g. the values behind a cell or point.
  void rect(double x, double y, double w, double h, const std::string& fill, const std::string& stroke = "none",
            double fill_opacity = 1, const std::string& title = "");
  void line(double x1, double y1, double x2, double y2, const std::string& stroke, double width = 1,
            const std::string& dash = "");
  void polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke, double width = 2,
                const std::string& dash = "");
  void polygon(const std::vector<std::pair<double, double>>& points, const std::string& fill, double opacity);
  void circle(double cx, double cy, double r, const std::string& fill, const std::string& title = "");
  /// anchor: start | middle | end. `rotate` in degrees about (x, y).
  void text(double x, double y, const std::string& content, double size = 12, const std::string& anchor = "start",
            const std::string& weight = "normal", double rotate = 0, const std::string& fill = "#222");

  std::string str() const;

 private:
  double width_, height_;
  std::string body_;
};

}  // namespace quarry::svg
