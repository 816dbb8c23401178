// Helpers the sweep's status and its two executors share; not part of the sweep interface.
#include "core/sweep/internal.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>

#include <fmt/format.h>

#include "core/store/store.hpp"

namespace quarry::sweep_internal {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_interrupted{0};
extern "C" void on_interrupt(int sig) { g_interrupted = sig; }

}  // namespace

std::string shell_quote(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string("/._-+=:,@%").find(c) != std::string::npos;
  });
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

fs::path store_file(const Sweep& s) { return fs::path(s.results) / "quarry.db"; }

void export_csv(const Sweep& s) {
  if (fs::exists(store_file(s))) Store(store_file(s)).export_csv(fs::path(s.results) / "csv");
}

std::string fmt_seconds(double s) {
  if (s < 120) return fmt::format("{:.0f}s", s);
  if (s < 7200) return fmt::format("{:.1f}min", s / 60);
  return fmt::format("{:.1f}h", s / 3600);
}

std::vector<std::size_t> unfinished(const std::vector<std::string>& statuses, std::size_t* skipped) {
  std::vector<std::size_t> out;
  *skipped = 0;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i] == "finished") ++*skipped;
    else out.push_back(i);
  }
  return out;
}

int interrupt_signal() { return g_interrupted; }

InterruptGuard::InterruptGuard() {
  g_interrupted = 0;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

}  // namespace quarry::sweep_internal
