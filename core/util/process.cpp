#include "core/util/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "quarry/error.hpp"

extern char** environ;

namespace quarry {

namespace fs = std::filesystem;

namespace {

/// fork + exec with everything the child needs prepared before the fork (only
/// async-signal-safe calls after it). `capture_fd` >= 0 receives stdout and stderr.
pid_t spawn_impl(const std::vector<std::string>& argv_in, const SpawnOptions& o, int capture_fd) {
  if (argv_in.empty()) throw Error("spawn_process: no program given");
  std::vector<std::string> argv_s = argv_in;
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv(*e);
    if (!o.env.count(kv.substr(0, kv.find('=')))) env_s.push_back(kv);
  }
  for (const auto& [k, v] : o.env) env_s.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  int out_fd = -1;
  if (capture_fd < 0 && !o.io.output.empty()) {
    out_fd = ::open(o.io.output.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (o.io.append ? O_APPEND : O_TRUNC), 0644);
    if (out_fd < 0) {
      if (null_fd >= 0) ::close(null_fd);
      throw Error("cannot write " + o.io.output.string() + " (output of " + argv_in[0] + ")");
    }
  }
  const int stdout_fd = capture_fd >= 0 ? capture_fd : out_fd >= 0 ? out_fd : null_fd;
  const int stderr_fd = capture_fd >= 0 || o.io.stderr_to_output ? stdout_fd : null_fd;
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (o.own_process_group) ::setpgid(0, 0);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    if (stdout_fd >= 0) ::dup2(stdout_fd, STDOUT_FILENO);
    if (stderr_fd >= 0) ::dup2(stderr_fd, STDERR_FILENO);
    ::execvpe(argv[0], argv.data(), envp.data());
    static const char msg[] = "quarry: cannot execute the program\n";
    [[maybe_unused]] auto w = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  if (o.own_process_group && pid > 0) ::setpgid(pid, pid);  // no race with kill_group either way
  if (out_fd >= 0) ::close(out_fd);
  if (null_fd >= 0) ::close(null_fd);
  if (pid < 0) throw Error("cannot start " + argv_in[0] + " (fork failed)");
  return pid;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

pid_t spawn_process(const std::vector<std::string>& argv, const SpawnOptions& options) {
  return spawn_impl(argv, options, -1);
}

int exit_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 128;
}

std::optional<int> wait_process(pid_t pid, double timeout_s) {
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, timeout_s < 0 ? 0 : WNOHANG);
    if (r == pid) return exit_status(status);
    if (r < 0) return -1;
    if (seconds_since(t0) > timeout_s) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

ProgramResult run_program(const std::vector<std::string>& argv, double timeout_s, bool capture, const ChildIo& io) {
  ProgramResult r;
  SpawnOptions o;
  o.io = io;
  o.own_process_group = true;  // a timeout also ends the helpers it starts (chromium's)
  int fds[2] = {-1, -1};
  if (capture && ::pipe2(fds, O_CLOEXEC) != 0) throw Error("cannot run " + argv.at(0) + " (pipe failed)");
  pid_t pid = -1;
  try {
    pid = spawn_impl(argv, o, capture ? fds[1] : -1);
  } catch (...) {
    if (capture) ::close(fds[0]), ::close(fds[1]);
    throw;
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (capture) {
    ::close(fds[1]);
    char buf[4096];
    for (;;) {
      const double left = timeout_s - seconds_since(t0);
      if (left <= 0) break;
      pollfd p{fds[0], POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left * 1000) + 1);
      if (ready < 0 && errno == EINTR) continue;  // a signal (Ctrl-C to a sweep) is not the child's end
      if (ready < 0) break;
      if (ready == 0) continue;
      const auto n = ::read(fds[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EOF: the child (and whatever inherited the pipe) closed it
      r.output.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
  }
  const auto status = wait_process(pid, std::max(0.0, timeout_s - seconds_since(t0)));
  if (!status) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    r.timed_out = true;
    return r;
  }
  r.status = *status;
  return r;
}

std::optional<fs::path> find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return fs::path(name);
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p;
  }
  return std::nullopt;
}

std::string self_executable() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot find the quarry executable (/proc/self/exe): " + ec.message());
  return p.string();
}

std::int64_t usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max<std::int64_t>(1, std::thread::hardware_concurrency());
}

}  // namespace quarry
