// toml++'s node types, declared, for headers that pass them by reference: the library's
// header (a large one) is included only by the sources that parse.
#pragma once

namespace toml {
inline namespace v3 {
class table;
class node;
}  // namespace v3
}  // namespace toml
