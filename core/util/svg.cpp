#include "core/util/svg.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace quarry::svg {

const std::vector<std::string>& palette() {
  static const std::vector<std::string> p = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                             "#E69F00", "#56B4E9", "#000000", "#F0E442"};
  return p;
}

const std::vector<std::string>& dash_patterns() {
  static const std::vector<std::string> d = {"", "8 4", "2 3", "10 3 2 3", "4 4"};
  return d;
}

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / std::max(1, target - 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  // Index arithmetic (not repeated addition) keeps 0.1 steps free of drift.
  const auto first = static_cast<long long>(std::ceil(lo / step - 1e-9));
  const auto last = static_cast<long long>(std::floor(hi / step + 1e-9));
  for (long long i = first; i <= last; ++i) ticks.push_back(static_cast<double>(i) * step);
  return ticks;
}

namespace {
std::string num(double v) { return fmt::format("{:.2f}", v); }

std::string points_attr(const std::vector<std::pair<double, double>>& points) {
  std::string s;
  for (const auto& [x, y] : points) {
    if (!s.empty()) s += ' ';
    s += num(x) + "," + num(y);
  }
  return s;
}

/// "/>" or "><title>...</title></element>".
std::string close_with_title(const char* element, const std::string& title) {
  return title.empty() ? "/>" : "><title>" + escape(title) + "</title></" + element + ">";
}

std::string dash_attr(const std::string& dash) {
  return dash.empty() ? "" : " stroke-dasharray=\"" + dash + "\"";
}
}  // namespace

void Document::rect(double x, double y, double w, double h, const std::string& fill, const std::string& stroke,
                    double fill_opacity, const std::string& title) {
  const std::string opacity = fill_opacity < 1 ? " fill-opacity=\"" + num(fill_opacity) + "\"" : "";
  body_ += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"{}\"{}{}\n", num(x),
                       num(y), num(w), num(h), fill, stroke, opacity, close_with_title("rect", title));
}

void Document::line(double x1, double y1, double x2, double y2, const std::string& stroke, double width,
                    const std::string& dash) {
  body_ += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/>\n",
                       num(x1), num(y1), num(x2), num(y2), stroke, num(width), dash_attr(dash));
}

void Document::polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke, double width,
                        const std::string& dash) {
  body_ += fmt::format(
      "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\"{}/>\n",
      points_attr(points), stroke, num(width), dash_attr(dash));
}

void Document::polygon(const std::vector<std::pair<double, double>>& points, const std::string& fill,
                       double opacity) {
  body_ += fmt::format("<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"{}\" stroke=\"none\"/>\n",
                       points_attr(points), fill, num(opacity));
}

void Document::circle(double cx, double cy, double r, const std::string& fill, const std::string& title) {
  body_ += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"{}\n", num(cx), num(cy), num(r), fill,
                       close_with_title("circle", title));
}

void Document::text(double x, double y, const std::string& content, double size, const std::string& anchor,
                    const std::string& weight, double rotate, const std::string& fill) {
  const std::string transform =
      rotate != 0 ? fmt::format(" transform=\"rotate({} {} {})\"", num(rotate), num(x), num(y)) : "";
  body_ += fmt::format(
      "<text x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"{}\" font-weight=\"{}\" fill=\"{}\"{}>{}</text>\n",
      num(x), num(y), num(size), anchor, weight, fill, transform, escape(content));
}

std::string Document::str() const {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"#ffffff\"/>\n{2}</svg>\n",
      num(width_), num(height_), body_);
}

}  // namespace quarry::svg
