#include "taskrunner/util/text.hpp"

#include <cctype>

namespace taskrunner::util {

std::vector<std::string> split_list(std::string_view value) {
  std::vector<std::string> out;
  std::string cur;
  for (const char ch : value) {
    if (ch == ',' || std::isspace(static_cast<unsigned char>(ch)) != 0) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(ch);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

}  // namespace taskrunner::util
