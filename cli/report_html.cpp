// report_html.cpp — `dime report FILE... [-o OUT]`: turns JSON reports and time series (JSON
// lines) into one self-contained HTML page with inline SVG plots: faults and stall time over
// time, remote faults per allocation site, and the fault-latency histogram. Reads its inputs
// with json.h; writes nothing but OUT.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/core.h>
#include "cli.h"
#include "json.h"

namespace dime::cli {
namespace {

constexpr std::string_view kHelpCommand = "dime report --help";
const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};

struct Sample {
    double t_s = 0;
    double faults = 0, delay_ns = 0;
};
struct Series {
    std::string name;
    std::vector<Sample> samples;
};
struct Site {
    std::string name;
    double faults = 0, delay_ns = 0, bytes = 0;
};
struct Report {
    std::string name;
    json::Value root;
    std::vector<Site> sites;
    std::vector<std::pair<double, double>> latency;  // (upper ns, count)
};

std::string escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string basename_of(const std::string& path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string number(double v) {
    if (v >= 1e9) return fmt::format("{:.1f}G", v / 1e9);
    if (v >= 1e6) return fmt::format("{:.1f}M", v / 1e6);
    if (v >= 1e4) return fmt::format("{:.0f}k", v / 1e3);
    if (v >= 100 || v == std::floor(v)) return fmt::format("{:.0f}", v);
    return fmt::format("{:.2g}", v);
}

// The frame of a plot: 760 x 300 user units, the data area inside margins.
constexpr double kW = 760, kH = 300, kLeft = 70, kRight = 20, kTop = 30, kBottom = 60;

std::string svg_open(const std::string& id, const std::string& title) {
    return fmt::format(
        "<svg class=\"plot\" id=\"{}\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" "
        "xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\" font-size=\"12\">\n"
        "<text x=\"{}\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
        id, kW, kH, kW, kH, kLeft, escape(title));
}

// Axes with `ticks` labels on y from 0 to ymax, and x labels given by the caller.
std::string y_axis(double ymax, const std::string& label) {
    std::string out = fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333\"/>\n", kLeft, kTop,
                                  kH - kBottom);
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333\"/>\n", kLeft, kH - kBottom,
                       kW - kRight);
    for (int i = 0; i <= 4; ++i) {
        const double v = ymax * i / 4, y = kH - kBottom - (kH - kTop - kBottom) * i / 4;
        out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", kLeft - 6, y + 4, number(v));
        out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>\n", kLeft, y, kW - kRight, y);
    }
    out += fmt::format("<text transform=\"translate(14,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                       (kTop + kH - kBottom) / 2, escape(label));
    return out;
}

// Lines over time: one per series, y = what `value` gives for each interval between samples.
template <typename Value>
std::string line_plot(const std::string& id, const std::string& title, const std::string& ylabel,
                      const std::vector<Series>& all, Value value) {
    double tmax = 0, ymax = 0;
    std::vector<std::vector<std::pair<double, double>>> lines;
    for (const Series& s : all) {
        std::vector<std::pair<double, double>> pts;
        for (size_t i = 1; i < s.samples.size(); ++i) {
            const double dt = s.samples[i].t_s - s.samples[i - 1].t_s;
            if (dt <= 0) continue;
            const double y = value(s.samples[i - 1], s.samples[i], dt);
            pts.emplace_back(s.samples[i].t_s, y);
            tmax = std::max(tmax, s.samples[i].t_s);
            ymax = std::max(ymax, y);
        }
        lines.push_back(std::move(pts));
    }
    if (tmax <= 0) tmax = 1;
    if (ymax <= 0) ymax = 1;
    std::string out = svg_open(id, title) + y_axis(ymax, ylabel);
    for (int i = 0; i <= 4; ++i) {
        const double x = kLeft + (kW - kLeft - kRight) * i / 4;
        out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x, kH - kBottom + 16,
                           fmt::format("{:.2f}", tmax * i / 4));
    }
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">time since start (s)</text>\n",
                       (kLeft + kW - kRight) / 2, kH - kBottom + 34);
    for (size_t k = 0; k < lines.size(); ++k) {
        std::string d;
        for (const auto& [t, y] : lines[k])
            d += fmt::format("{}{:.1f},{:.1f} ", d.empty() ? "M" : "L", kLeft + (kW - kLeft - kRight) * t / tmax,
                             kH - kBottom - (kH - kTop - kBottom) * y / ymax);
        const char* color = kColors[k % std::size(kColors)];
        if (!d.empty())
            out += fmt::format("<path class=\"mark\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", d, color);
        out += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>\n", kLeft + 10 + 200 * double(k),
                           kH - 8, color, escape(all[k].name));
    }
    return out + "</svg>\n";
}

// Bars with a label under each (labels are cut to fit).
std::string bar_plot(const std::string& id, const std::string& title, const std::string& ylabel,
                     const std::vector<std::pair<std::string, double>>& bars) {
    double ymax = 1;
    for (const auto& b : bars) ymax = std::max(ymax, b.second);
    std::string out = svg_open(id, title) + y_axis(ymax, ylabel);
    const double slot = (kW - kLeft - kRight) / std::max<double>(1, double(bars.size()));
    for (size_t i = 0; i < bars.size(); ++i) {
        const double h = (kH - kTop - kBottom) * bars[i].second / ymax;
        const double x = kLeft + slot * double(i) + slot * 0.1;
        out += fmt::format("<rect class=\"mark\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
                           "fill=\"{}\"><title>{}: {}</title></rect>\n",
                           x, kH - kBottom - h, slot * 0.8, h, kColors[0], escape(bars[i].first), number(bars[i].second));
        std::string label = bars[i].first;
        const size_t fit = std::max<size_t>(4, static_cast<size_t>(slot / 6.5));
        if (label.size() > fit) {
            label.erase(fit - 1);
            label += "…";
        }
        out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\">{}</text>\n",
                           x + slot * 0.4, kH - kBottom + 14 + 12 * double(i % 2), escape(label));
    }
    return out + "</svg>\n";
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail(2, fmt::format("report: cannot read '{}'", path));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

double num(const json::Value& n) { return n.as_number(); }

// Reads a file as a report (one JSON object with "version") or a time series (JSON lines with t_ns).
void load(const std::string& path, std::vector<Report>& reports, std::vector<Series>& series) {
    const std::string text = read_file(path);
    try {
        const size_t first_line_end = text.find('\n');
        const std::string first = text.substr(0, first_line_end);
        if (first.find("\"t_ns\"") != std::string::npos) {  // a time series: one object per line
            Series s{basename_of(path), {}};
            std::istringstream in(text);
            std::string l;
            while (std::getline(in, l)) {
                if (l.empty()) continue;
                const json::Value n = json::parse(l);
                s.samples.push_back({num(n["t_ns"]) / 1e9, num(n["faults"]), num(n["injected_delay_ns"])});
            }
            series.push_back(std::move(s));
            return;
        }
        json::Value root = json::parse(text);
        if (!root.has("version") || !root.has("totals"))
            fail(2, fmt::format("report: '{}' is neither a DiME report nor a time series", path));
        Report r{basename_of(path), std::move(root), {}, {}};
        for (const json::Value& s : r.root["sites"].items)
            r.sites.push_back({s["site"].as_text(), num(s["faults"]), num(s["injected_delay_ns"]), num(s["bytes"])});
        for (const json::Value& e : r.root["fault_latency"]["buckets"].items)
            r.latency.emplace_back(num(e[0]), num(e[1]));
        reports.push_back(std::move(r));
    } catch (const std::runtime_error& e) {
        fail(2, fmt::format("report: '{}' is not JSON: {}", path, e.what()));
    }
}

std::string totals_table(const Report& r) {
    const json::Value &t = r.root["totals"], &c = r.root["config"], &e = r.root["engine"];
    std::string out = fmt::format("<h2>{}</h2>\n<table>\n", escape(r.name));
    auto row = [&](const char* k, const std::string& v) {
        out += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", k, escape(v));
    };
    row("pid", e["pid"].as_text("?"));
    row("policy", e["policy"].as_text("?"));
    row("local_npages", e["local_npages"].as_text("?"));
    row("latency_ns / bandwidth_bps", c["latency_ns"].as_text("?") + " / " + c["bandwidth_bps"].as_text("?"));
    for (const char* k : {"faults", "first_touch_faults", "refetch_faults", "evictions", "injected_delay_ns",
                          "fault_ns_p50", "fault_ns_p99"})
        row(k, t[k].as_text("?"));
    return out + "</table>\n";
}

}  // namespace

std::string report_help() {
    return "usage: dime report [-o OUT.html] FILE...\n"
           "\n"
           "Turns DiME's JSON reports (DIME_REPORT, dime run --report) and time series (setting\n"
           "series: JSON lines) into one self-contained HTML page, OUT.html (default\n"
           "dime-report.html): the totals of each report, faults and stall time (injected delay)\n"
           "per second over time from each series, remote faults per allocation site, and the\n"
           "per-fault latency histogram. The plots are inline SVG: the page needs no network.\n"
           "\n"
           "Exit status: 0 written; 2 a bad command line or an input that is not a DiME report\n"
           "or time series (one line on stderr names the file).\n";
}

int report_main(int argc, char** argv) {
    std::string out_path = "dime-report.html";
    std::vector<std::string> inputs;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "-h" || a == "--help") {
            fmt::print("{}", report_help());
            return 0;
        }
        if (option_value(argc, argv, i, "-o", "--output", out_path, kHelpCommand)) continue;
        if (!a.empty() && a[0] == '-') usage_error(fmt::format("unknown option '{}'", a), kHelpCommand);
        inputs.emplace_back(a);
    }
    if (inputs.empty()) usage_error("no report or time series given", kHelpCommand);
    std::vector<Report> reports;
    std::vector<Series> series;
    for (const std::string& p : inputs) load(p, reports, series);

    std::string html =
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>DiME report</title>\n"
        "<style>body{font-family:sans-serif;margin:2em;max-width:820px}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}svg{display:block;margin:1em 0}</style>\n"
        "</head><body>\n<h1>DiME report</h1>\n";
    for (const Report& r : reports) html += totals_table(r);
    if (!series.empty()) {
        html += line_plot("faults-over-time", "Remote faults per second", "faults / s", series,
                          [](const Sample& a, const Sample& b, double dt) { return (b.faults - a.faults) / dt; });
        html += line_plot("stall-over-time", "Stall time: injected delay per second of run time", "ms / s", series,
                          [](const Sample& a, const Sample& b, double dt) { return (b.delay_ns - a.delay_ns) / 1e6 / dt; });
    }
    for (size_t k = 0; k < reports.size(); ++k) {
        const Report& r = reports[k];
        if (!r.sites.empty()) {
            std::vector<std::pair<std::string, double>> bars;
            for (const Site& s : r.sites) bars.emplace_back(s.name, s.faults);
            html += bar_plot(fmt::format("sites-{}", k), "Remote faults per allocation site: " + r.name, "faults", bars);
        }
        if (!r.latency.empty()) {
            // The report's buckets (16 per power of two) merged into one bar per power of two.
            std::vector<std::pair<std::string, double>> bars;
            int last = -1;
            for (const auto& [upper, n] : r.latency) {
                const int p = upper >= 1 ? static_cast<int>(std::ceil(std::log2(upper + 1))) : 0;
                if (bars.empty() || p != last) bars.emplace_back(fmt::format("<{}us", number(std::ldexp(1.0, p) / 1000)), 0);
                bars.back().second += n;
                last = p;
            }
            html += bar_plot(fmt::format("latency-{}", k), "Fault latency histogram: " + r.name, "faults", bars);
        }
    }
    // Marks every plot whose marks have a size once laid out: what a test in a browser checks.
    html += "<script>\nfor (const svg of document.querySelectorAll('svg.plot')) {\n"
            "  const drawn = [...svg.querySelectorAll('.mark')].some(m => { const b = m.getBBox(); "
            "return b.width > 0 || b.height > 0; });\n"
            "  svg.setAttribute('data-drawn', drawn ? 'yes' : 'no');\n}\n</script>\n</body></html>\n";
    std::ofstream out(out_path);
    if (!out || !(out << html)) fail(2, fmt::format("report: cannot write '{}'", out_path));
    fmt::print("dime report: wrote {} ({} report(s), {} time series)\n", out_path, reports.size(), series.size());
    return 0;
}

}  // namespace dime::cli
