// Running the real `quarry` executable from tests: spawn it with its output in a
// file, wait with a deadline, SIGKILL it. Header-only (tests/CMakeLists.txt
// compiles test_*.cpp and support.cpp only).
#pragma once

#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "paths.hpp"

extern char** environ;

namespace quarry::testing {


struct ProcessResult {
  bool exited = false;  ///< false: ended by a signal
  int exit_code = -1;
  int signal = 0;
  std::string output;  ///< stdout and stderr, interleaved
  double seconds = 0;

  /// A sanitizer or the C++ runtime said something went wrong, whatever the exit status.
  bool crashed() const {
    return !exited || output.find("AddressSanitizer") != std::string::npos ||
           output.find("LeakSanitizer") != std::string::npos || output.find("runtime error:") != std::string::npos ||
           output.find("terminate called") != std::string::npos || output.find("Segmentation fault") != std::string::npos;
  }
};

/// One child process; its stdout and stderr go to `log`.
class Process {
 public:
  Process(const std::vector<std::string>& args, const std::filesystem::path& log) : log_(log) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    start_ = std::chrono::steady_clock::now();
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process() {
    if (!done_) kill_now();
  }

  /// Wait up to `seconds`; true when the process has ended.
  bool wait_for(double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!done_) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        finish(status);
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done_;
  }

  /// SIGKILL (the harshest way a run can die: no handler, no flush) and reap.
  void kill_now() {
    if (done_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    finish(status);
  }

  const ProcessResult& result() const { return result_; }

 private:
  void finish(int status) {
    done_ = true;
    result_.exited = WIFEXITED(status);
    result_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result_.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::ifstream in(log_, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    result_.output = os.str();
  }

  std::filesystem::path log_;
  pid_t pid_ = -1;
  bool done_ = false;
  ProcessResult result_;
  std::chrono::steady_clock::time_point start_;
};

/// Run to the end (killed after `timeout` seconds, which the result shows as a signal).
inline ProcessResult run_process(const std::vector<std::string>& args, const std::filesystem::path& log,
                                 double timeout = 300) {
  Process p(args, log);
  if (!p.wait_for(timeout)) p.kill_now();
  return p.result();
}

}  // namespace quarry::testing
