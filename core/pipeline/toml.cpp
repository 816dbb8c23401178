#include "core/pipeline/toml.hpp"

#include <cstdint>
#include <cstdio>

#include <toml++/toml.h>

#include "quarry/error.hpp"

namespace quarry {

namespace {

// The --set assignments of the pipeline being parsed: values copied into the
// document lose their source position, so an error on one names its --set instead.
thread_local const std::vector<std::string>* current_overrides = nullptr;

bool trips_toml_whitespace_check(std::uint32_t c) {
  if (c <= 0xA0 || c >= 0xFEFF || c == 0x3000) return false;
  const auto block = (c - 0xA0) / 0x3FA;  // toml++'s lookup: blocks 0, 11 and 63 are not handled
  return block == 0 || block == 11 || block == 63;
}

}  // namespace

/// Checks toml++ should not have to make, with the position and character in the message:
/// control characters (TOML allows only tab, LF and CR in CRLF, strings and comments
/// included; toml++ reports some only as "could not determine value type"), and
/// non-ASCII characters outside strings and comments (see above).
void check_characters(const std::string& text, const std::string& file) {
  enum class In { Toml, Comment, Basic, Literal, MultiBasic, MultiLiteral };
  In in = In::Toml;
  // In a multi-line basic string, toml++ tests for whitespace the character after a
  // backslash and, after a line-ending backslash, each character up to the next non-blank.
  bool escaped = false, skipping = false;
  std::size_t line = 1, column = 1;
  auto fail = [&](const std::string& what) {
    throw Error(file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": TOML syntax error: " + what);
  };
  auto code = [](std::uint32_t c) {
    char buf[12];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(c));
    return std::string(buf);
  };
  auto quotes = [&](std::size_t i, char q) {
    std::size_t n = 0;
    while (i + n < text.size() && text[i + n] == q) ++n;
    return n;
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = 1;
    if (c < 0x80) {
      const bool crlf = c == '\r' && i + 1 < text.size() && text[i + 1] == '\n';
      if ((c < 0x20 && c != '\t' && c != '\n' && !crlf) || c == 0x7f)
        fail("control character " + code(c) + " is not allowed in a TOML document");
      switch (in) {
        case In::Toml:
          if (c == '#') in = In::Comment;
          else if (c == '"') { len = quotes(i, '"') >= 3 ? 3 : 1; in = len == 3 ? In::MultiBasic : In::Basic; }
          else if (c == '\'') { len = quotes(i, '\'') >= 3 ? 3 : 1; in = len == 3 ? In::MultiLiteral : In::Literal; }
          break;
        case In::Comment:
          if (c == '\n') in = In::Toml;
          break;
        case In::Basic:
          if (c == '\\') len = i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0x80 ? 2 : 1;
          else if (c == '"' || c == '\n') in = In::Toml;
          break;
        case In::Literal:
          if (c == '\'' || c == '\n') in = In::Toml;
          break;
        case In::MultiBasic:
          if (escaped) {  // the escaped character; whitespace here starts a line-ending backslash
            escaped = false;
            skipping = c == ' ' || c == '\t' || c == '\n' || c == '\r';
            break;
          }
          if (skipping) {
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') break;
            skipping = false;
          }
          if (c == '\\') {
            escaped = true;
          } else if (c == '"') {
            len = quotes(i, '"');
            if (len >= 3) in = In::Toml;  // up to two more quotes belong to the string
          }
          break;
        case In::MultiLiteral:
          if (c == '\'') {
            len = quotes(i, '\'');
            if (len >= 3) in = In::Toml;
          }
          break;
      }
    } else {
      // A UTF-8 sequence (toml++ reports invalid UTF-8 itself).
      len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      std::uint32_t cp = len == 4 ? c & 0x07u : len == 3 ? c & 0x0Fu : c & 0x1Fu;
      for (std::size_t k = 1; k < len && i + k < text.size(); ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3Fu);
      if (len == 1) cp = c;
      if (in == In::Toml)
        fail("character " + code(cp) + " outside a string or comment (TOML allows only ASCII there)");
      if (in == In::MultiBasic && (escaped || skipping) && trips_toml_whitespace_check(cp))
        fail("character " + code(cp) + " after a backslash is not supported here (toml++ 3.3 cannot check it)");
      escaped = skipping = false;
    }
    if (c < 0x80) {
      for (std::size_t k = 0; k < len && i + k < text.size(); ++k) {
        if (text[i + k] == '\n') {
          ++line;
          column = 1;
        } else {
          ++column;
        }
      }
    } else {
      ++column;  // one code point
    }
    i += len;
  }
}

[[noreturn]] void fail_at(const toml::node& node, const std::string& file, const std::string& key,
                          const std::string& what) {
  if (node.source().begin.line == 0 && current_overrides) {
    for (const auto& o : *current_overrides) {
      const auto eq = o.find('=');
      const std::string path = o.substr(0, eq);
      std::string normalised = key;  // strategies[1].name -> strategies.1.name
      for (std::size_t i; (i = normalised.find('[')) != std::string::npos;) {
        normalised.replace(i, 1, ".");
        normalised.erase(normalised.find(']', i), 1);
      }
      if (path == normalised || normalised.rfind(path + ".", 0) == 0)
        throw Error(kOverridePrefix + o + ": key '" + key + "': " + what);
    }
  }
  throw Error(where(node, file) + ": key '" + key + "': " + what);
}

/// toml++ 3.3 (Debian's) reaches __builtin_unreachable when it asks whether some
/// non-ASCII code points are whitespace (found by fuzz_pipeline: `momentum = \u0451`):
/// undefined behaviour in the library the program links. It asks only outside
/// strings and comments, and after a backslash in a multi-line basic string; so
/// these code points are rejected there (outside strings TOML allows no non-ASCII

OverrideScope::OverrideScope(const std::vector<std::string>* overrides) { current_overrides = overrides; }
OverrideScope::~OverrideScope() { current_overrides = nullptr; }

const char* toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    default: return "date/time";
  }
}

const toml::table* toml_section(const toml::table& root, const std::string& name, const std::string& file,
                           bool required) {
  const toml::node* n = root.get(name);
  if (!n) {
    if (required) throw Error(file + ": missing required section [" + name + "]");
    return nullptr;
  }
  if (!n->is_table()) fail_at(*n, file, name, std::string("expected a table, got ") + toml_type_name(*n));
  return n->as_table();
}

std::string where(const toml::node& node, const std::string& fallback_file) {
  const auto& src = node.source();
  const std::string path = src.path ? *src.path : fallback_file;
  if (path.rfind(kOverridePrefix, 0) == 0) return path;
  if (src.begin.line == 0) return "command line (--set)";  // copied values lose their position
  return path + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
}

toml::table parse_toml(const std::string& text, const std::string& file) {
  check_characters(text, file);
  try {
    return toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw Error(file + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                ": TOML syntax error: " + std::string(e.description()));
  }
}

}  // namespace quarry
