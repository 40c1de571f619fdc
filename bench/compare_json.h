// bench/compare_json.h: reads bench/compare_torch.py's compare.json for the main job's summary
// (the PyTorch ratio beside actk's GB/s, issue #18): a small JSON reader (objects, arrays,
// strings with the escapes json.dump writes, numbers, true/false/null; NaN and Infinity as Python
// writes them) and the search for the newest results of this backend under bench/results/.
#pragma once

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace actk_bench {

struct Json {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::vector<std::pair<std::string, Json>> obj;

  const Json* get(const std::string& key) const {
    for (const auto& kv : obj)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
  std::string text(const std::string& key) const {
    const Json* v = get(key);
    return v && v->kind == Kind::string ? v->str : std::string();
  }
  /// A number field; NaN when absent, null or not a number.
  double number(const std::string& key) const {
    const Json* v = get(key);
    return v && v->kind == Kind::number ? v->num : std::nan("");
  }
};

/// Parses `s`; false (and `err` set) on malformed input.
class JsonReader {
 public:
  explicit JsonReader(const std::string& s) : s_(s) {}
  bool parse(Json& out, std::string& err) {
    if (!value(out) || (space(), i_ != s_.size())) {
      err = "malformed JSON near byte " + std::to_string(i_);
      return false;
    }
    return true;
  }

 private:
  void space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool word(const char* w) {
    const std::size_t n = std::char_traits<char>::length(w);
    if (s_.compare(i_, n, w) != 0) return false;
    i_ += n;
    return true;
  }
  bool string(std::string& out) {
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    for (++i_; i_ < s_.size(); ++i_) {
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (++i_ >= s_.size()) return false;
      const char e = s_[i_];
      if (e == 'u') {  // \uXXXX: ASCII kept, anything else as '?' (names here are ASCII)
        if (i_ + 4 >= s_.size()) return false;
        const long cp = std::strtol(s_.substr(i_ + 1, 4).c_str(), nullptr, 16);
        out += cp < 128 ? static_cast<char>(cp) : '?';
        i_ += 4;
      } else {
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
      }
    }
    return false;
  }
  bool value(Json& v) {
    space();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') {
      v.kind = Json::Kind::object;
      ++i_;
      space();
      if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
      for (;;) {
        std::string key;
        Json item;
        space();
        if (!string(key)) return false;
        space();
        if (i_ >= s_.size() || s_[i_++] != ':' || !value(item)) return false;
        v.obj.emplace_back(std::move(key), std::move(item));
        space();
        if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
        return i_ < s_.size() && s_[i_++] == '}';
      }
    }
    if (c == '[') {
      v.kind = Json::Kind::array;
      ++i_;
      space();
      if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
      for (;;) {
        Json item;
        if (!value(item)) return false;
        v.arr.push_back(std::move(item));
        space();
        if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
        return i_ < s_.size() && s_[i_++] == ']';
      }
    }
    if (c == '"') return v.kind = Json::Kind::string, string(v.str);
    if (word("true")) return v.kind = Json::Kind::boolean, v.b = true, true;
    if (word("false")) return v.kind = Json::Kind::boolean, v.b = false, true;
    if (word("null")) return v.kind = Json::Kind::null, true;
    if (word("NaN")) return v.kind = Json::Kind::number, v.num = std::nan(""), true;
    if (word("Infinity")) return v.kind = Json::Kind::number, v.num = HUGE_VAL, true;
    if (word("-Infinity")) return v.kind = Json::Kind::number, v.num = -HUGE_VAL, true;
    const char* begin = s_.c_str() + i_;
    char* end = nullptr;
    v.num = std::strtod(begin, &end);
    if (end == begin) return false;
    v.kind = Json::Kind::number;
    i_ += static_cast<std::size_t>(end - begin);
    return true;
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

/// Reads a whole file as JSON; false with `err` set when it cannot.
inline bool read_json(const std::string& path, Json& out, std::string& err) {
  std::ifstream f(path);
  if (!f) {
    err = "cannot open " + path;
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  JsonReader r(text);
  if (!r.parse(out, err)) {
    err = path + ": " + err;
    return false;
  }
  return true;
}

/// The newest compare.json under `results` (bench/results/<run>/compare.json, one folder deeper
/// for runs split in parts) whose meta.device is `device` ("cpu" or "cuda"): newest by meta.date,
/// then by path. Empty when there is none.
inline std::string newest_compare_json(const std::string& results, const std::string& device) {
  namespace fs = std::filesystem;
  std::string best, best_key;
  std::error_code ec;
  if (!fs::is_directory(results, ec)) return best;
  for (fs::recursive_directory_iterator it(results, ec), end; !ec && it != end; it.increment(ec)) {
    if (it.depth() > 2) continue;
    if (it->path().filename() != "compare.json") continue;
    Json j;
    std::string err;
    if (!read_json(it->path().string(), j, err)) continue;
    const Json* meta = j.get("meta");
    if (!meta || meta->text("device") != device) continue;
    const std::string key = meta->text("date") + "|" + it->path().string();
    if (key > best_key) best_key = key, best = it->path().string();
  }
  return best;
}

}  // namespace actk_bench
