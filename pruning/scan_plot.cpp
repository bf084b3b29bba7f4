#include "pruning/scan_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace trim {

namespace {

const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                         "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// Past ten layers the colours repeat: the second and third cycles are dashed and dotted.
std::string dash(size_t layer) {
  const size_t cycle = layer / 10;
  return cycle == 0 ? "" : cycle == 1 ? " stroke-dasharray='8,4'" : " stroke-dasharray='2,3'";
}

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '&') o += "&amp;";
    else if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

// A "nice" tick step for a range (1, 2 or 5 times a power of ten, about 6 ticks).
double tick_step(double range) {
  const double raw = range / 6.0;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

void panel(std::ostringstream& s, const ScanResult& scan, double T, double x0, double y0, double w, double h,
           double ymin, double ymax, const std::string& caption) {
  auto X = [&](double r) { return x0 + r * w; };
  auto Y = [&](double d) { return y0 + h - (std::min(std::max(d, ymin), ymax) - ymin) / (ymax - ymin) * h; };
  s << "<rect x='" << x0 << "' y='" << y0 << "' width='" << w << "' height='" << h
    << "' fill='white' stroke='#444'/>\n";
  s << "<text x='" << x0 + w / 2 << "' y='" << y0 - 8 << "' text-anchor='middle' font-size='13'>" << esc(caption)
    << "</text>\n";
  // Grid and tick labels.
  for (int i = 0; i <= 10; ++i) {
    const double r = i / 10.0;
    s << "<line x1='" << X(r) << "' y1='" << y0 << "' x2='" << X(r) << "' y2='" << y0 + h
      << "' stroke='#eee'/>\n";
    if (i % 2 == 0)
      s << "<text x='" << X(r) << "' y='" << y0 + h + 16 << "' text-anchor='middle' font-size='11'>" << r
        << "</text>\n";
  }
  const double step = tick_step(ymax - ymin);
  for (double t = std::ceil(ymin / step) * step; t <= ymax + 1e-9; t += step) {
    s << "<line x1='" << x0 << "' y1='" << Y(t) << "' x2='" << x0 + w << "' y2='" << Y(t) << "' stroke='"
      << (std::fabs(t) < 1e-9 ? "#999" : "#eee") << "'/>\n";
    s << "<text x='" << x0 - 6 << "' y='" << Y(t) + 4 << "' text-anchor='end' font-size='11'>" << fmt(t)
      << "</text>\n";
  }
  s << "<text x='" << x0 + w / 2 << "' y='" << y0 + h + 34 << "' text-anchor='middle' font-size='12'>"
    << "pruning ratio of the layer</text>\n";
  s << "<text transform='translate(" << x0 - 40 << "," << y0 + h / 2
    << ") rotate(-90)' text-anchor='middle' font-size='12'>accuracy drop (points)</text>\n";
  if (T >= ymin && T <= ymax)
    s << "<line x1='" << x0 << "' y1='" << Y(T) << "' x2='" << x0 + w << "' y2='" << Y(T)
      << "' stroke='black' stroke-dasharray='6,4'/>\n<text x='" << x0 + w - 4 << "' y='" << Y(T) - 4
      << "' text-anchor='end' font-size='11'>T = " << T << "</text>\n";
  s << "<svg x='" << x0 << "' y='" << y0 << "' width='" << w << "' height='" << h << "' overflow='hidden'>\n";
  for (size_t l = 0; l < scan.layers.size(); ++l) {
    const auto& c = scan.layers[l];
    const char* col = kColors[l % 10];
    std::ostringstream pts;
    for (size_t k = 0; k < c.ratios.size(); ++k)
      if (c.removed[k] >= 0 && std::isfinite(c.drop[k]))
        pts << X(c.ratios[k]) - x0 << "," << Y(c.drop[k]) - y0 << " ";
    s << "<polyline fill='none' stroke='" << col << "' stroke-width='2'" << dash(l) << " points='" << pts.str()
      << "'/>\n";
    for (size_t k = 0; k < c.ratios.size(); ++k)
      if (c.removed[k] >= 0 && std::isfinite(c.drop[k]))
        s << "<circle cx='" << X(c.ratios[k]) - x0 << "' cy='" << Y(c.drop[k]) - y0 << "' r='3' fill='" << col
          << "'><title>" << esc(c.layer) << " ratio " << c.ratios[k] << ": drop " << fmt(c.drop[k])
          << " points</title></circle>\n";
  }
  s << "</svg>\n";
}

}  // namespace

std::string scan_svg(const ScanResult& scan, double T, const std::string& title) {
  double lo = 0, hi = std::max(1.0, T);
  for (const auto& c : scan.layers)
    for (size_t k = 0; k < c.drop.size(); ++k)
      if (c.removed[k] >= 0 && std::isfinite(c.drop[k])) {
        lo = std::min(lo, c.drop[k]);
        hi = std::max(hi, c.drop[k]);
      }
  lo = std::floor(lo - 0.5);
  hi = std::ceil(hi * 1.05);
  const double zoom_hi = std::min(hi, std::max(4.0 * T, 2.0));
  const double zoom_lo = std::max(lo, -std::max(T, 1.0));
  const double pw = 420, ph = 300, left = 70, top = 60, gap = 90;
  const double legend_w = 150;
  const double W = left + 2 * pw + gap + legend_w + 20, H = top + ph + 70;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  s << "<text x='" << W / 2 << "' y='22' text-anchor='middle' font-size='15' font-weight='bold'>" << esc(title)
    << "</text>\n";
  char sub[256];
  std::snprintf(sub, sizeof sub, "criterion %s, %zu validation images, unpruned accuracy %.2f%%",
                scan.criterion.c_str(), scan.samples, 100 * scan.base_acc);
  s << "<text x='" << W / 2 << "' y='40' text-anchor='middle' font-size='12'>" << esc(sub) << "</text>\n";
  panel(s, scan, T, left, top, pw, ph, lo, hi, "whole range");
  panel(s, scan, T, left + pw + gap, top, pw, ph, zoom_lo, zoom_hi, "close-up around T");
  const double lx = left + 2 * pw + gap + 20;
  for (size_t l = 0; l < scan.layers.size(); ++l) {
    const double ly = top + 10 + 20 * static_cast<double>(l);
    s << "<line x1='" << lx << "' y1='" << ly << "' x2='" << lx + 24 << "' y2='" << ly << "' stroke='"
      << kColors[l % 10] << "' stroke-width='3'" << dash(l) << "/>\n<text x='" << lx + 30 << "' y='" << ly + 4
      << "' font-size='12'>" << esc(scan.layers[l].layer) << " (" << scan.layers[l].channels << ")</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace trim
