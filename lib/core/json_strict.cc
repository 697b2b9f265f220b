// ParseJsonStrict (see core/json_strict.h).
#include "core/json_strict.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/snapshot_rules.h"

namespace degrade::internal {
namespace {

using snapshot::Cat;
using snapshot::Json;

// Parser messages quote the input they choked on; keep them bounded too.
constexpr size_t kMaxParseErrorLength = 256;

// Builds the document from nlohmann's SAX events, as its own DOM builder
// does, and refuses a key its object already holds. nlohmann's builder
// cannot be used for that: it assigns through operator[] and hides the
// object it is filling.
class StrictBuilder {
 public:
  explicit StrictBuilder(Json& root) : root_(root) {}

  bool null() { return Put(nullptr) != nullptr; }
  bool boolean(bool value) { return Put(value) != nullptr; }
  bool number_integer(Json::number_integer_t value) { return Put(value) != nullptr; }
  bool number_unsigned(Json::number_unsigned_t value) { return Put(value) != nullptr; }
  bool number_float(Json::number_float_t value, const std::string& /*text*/) {
    return Put(value) != nullptr;
  }
  bool string(std::string& value) { return Put(std::move(value)) != nullptr; }
  bool binary(Json::binary_t& value) { return Put(Json::binary(std::move(value))) != nullptr; }

  bool start_object(std::size_t /*size*/) { return Open(Json::value_t::object); }
  bool key(std::string& name) {
    auto& object = open_.back().value->get_ref<Json::object_t&>();
    // try_emplace leaves `name` alone when the key is already there.
    auto [it, inserted] = object.try_emplace(std::move(name), nullptr);
    if (!inserted) {
      problem_ = JsonProblem::kDuplicateKey;
      error_ = Cat(snapshot::RenderString(it->first), "; each key may appear once");
      return false;
    }
    open_.back().key = &it->first;
    element_ = &it->second;
    return true;
  }
  bool end_object() {
    open_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*size*/) { return Open(Json::value_t::array); }
  bool end_array() {
    open_.pop_back();
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& error) {
    problem_ = JsonProblem::kSyntax;
    error_ = error.what();
    return false;
  }

  JsonProblem problem() const { return problem_; }

  // The message for a refused document, `path` being where it sits.
  std::string Error(std::string_view path) const {
    if (problem_ == JsonProblem::kDuplicateKey) {
      const std::string where = ObjectPath(path);
      return Cat(where, where.empty() ? "" : ": ", "duplicate key ", error_);
    }
    std::string_view text = error_;
    // Without nlohmann's "[json.exception.parse_error.101] " tag.
    if (text.starts_with("[json.exception.")) {
      const size_t end = text.find("] ");
      if (end != std::string_view::npos) text.remove_prefix(end + 2);
    }
    const std::string detail =
        text.empty() ? std::string("unreadable input")
                     : snapshot::Truncate(snapshot::SanitizeUtf8(text), kMaxParseErrorLength);
    return Cat(path, path.empty() ? "" : ": ", "invalid JSON: ", detail);
  }

 private:
  // An open object or array; `key` is the object's latest key (in the
  // object's own node, so it stays valid while the object is open).
  struct Frame {
    Json* value;
    const std::string* key;
  };

  // Stores a value where the next one goes: the root, the end of the open
  // array, or the slot the open object's last key made.
  template <typename Value>
  Json* Put(Value&& value) {
    if (open_.empty()) {
      root_ = Json(std::forward<Value>(value));
      return &root_;
    }
    Json& parent = *open_.back().value;
    if (parent.is_array()) {
      auto& array = parent.get_ref<Json::array_t&>();
      array.emplace_back(std::forward<Value>(value));
      return &array.back();
    }
    *element_ = Json(std::forward<Value>(value));
    return element_;
  }

  bool Open(Json::value_t type) {
    if (open_.size() >= static_cast<size_t>(kMaxStrictJsonDepth)) {
      problem_ = JsonProblem::kTooDeep;
      error_ = Cat("nested deeper than ", std::to_string(kMaxStrictJsonDepth), " levels");
      return false;
    }
    // A container's children are only added while it is the innermost one,
    // so this pointer stays valid until the container is closed.
    Json* value = Put(type);
    open_.push_back({value, nullptr});
    return true;
  }

  // The path of the innermost open object (the one holding a duplicate):
  // each enclosing container adds the key or index it reached it by.
  std::string ObjectPath(std::string_view path) const {
    std::string out(path);
    for (size_t i = 0; i + 1 < open_.size(); ++i) {
      const Json& container = *open_[i].value;
      if (container.is_array()) {
        out += Cat("[", std::to_string(container.size() - 1), "]");
      } else {
        out = snapshot::Child(out, *open_[i].key);
      }
    }
    return out;
  }

  Json& root_;
  std::vector<Frame> open_;
  Json* element_ = nullptr;
  JsonProblem problem_ = JsonProblem::kSyntax;
  std::string error_;
};

}  // namespace

absl::StatusOr<nlohmann::json> ParseJsonStrict(std::string_view text, std::string_view path,
                                               JsonProblem* problem) {
  Json root;
  StrictBuilder builder(root);
  if (Json::sax_parse(text.data(), text.data() + text.size(), &builder)) return root;
  if (problem != nullptr) *problem = builder.problem();
  return absl::InvalidArgumentError(builder.Error(path));
}

}  // namespace degrade::internal
