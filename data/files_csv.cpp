// CSV files (RFC 4180) read whole and parsed by one state machine, and written back in the form
// that reads the same, with numbers in their shortest exact text.
#include <fmt/format.h>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <manta/data/files.h>

namespace manta::data::files {
namespace {

void check_delimiter(const std::string& path, char delimiter) {
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r') {
    throw DataError(fmt::format(
        "CSV file '{}': the delimiter cannot be a quote or a line break; use ',', ';' or '\\t'",
        path));
  }
}

// The fields of a file, record by record, with the line each record starts on.
class Parser {
 public:
  Parser(const std::string& path, std::string_view text, char delimiter)
      : path_(path), text_(text), delimiter_(delimiter) {}

  // The next record into `fields`; false at the end of the file. Blank lines are skipped: they
  // hold no fields (a record of one empty field is written as "").
  bool next(CsvRow& fields, std::size_t& line);

 private:
  enum class State { start, unquoted, quoted, after_quote };

  // A character outside quotes; true when it ended the record.
  bool outside_quotes(char c, CsvRow& fields);

  void inside_quotes(char c);

  // A character after a quote that closed or doubled; true when it ended the record.
  bool after_quote(char c, CsvRow& fields);

  void end_field(CsvRow& fields);

  // Steps over one line end: LF, CRLF or a lone CR.
  void line_end();

  const std::string& path_;
  std::string_view text_;
  char delimiter_;
  std::size_t at_ = 0;
  std::size_t line_ = 1;
  std::string field_;
  State state_ = State::start;
  std::size_t quote_line_ = 1;
};

bool Parser::next(CsvRow& fields, std::size_t& line) {
  fields.clear();
  // Skip blank lines between records.
  while (at_ < text_.size() && (text_[at_] == '\n' || text_[at_] == '\r')) line_end();
  if (at_ >= text_.size()) return false;
  line = line_;
  field_.clear();
  state_ = State::start;
  quote_line_ = line_;
  while (at_ < text_.size()) {
    const char c = text_[at_];
    const bool ended = state_ == State::quoted        ? (inside_quotes(c), false)
                       : state_ == State::after_quote ? after_quote(c, fields)
                                                      : outside_quotes(c, fields);
    if (ended) return true;
  }
  if (state_ == State::quoted) {
    throw DataError(
        fmt::format("{} line {}: a quoted field starts here and is never closed (a missing '\"')",
                    path_, quote_line_));
  }
  fields.push_back(std::move(field_));  // the last record has no line end
  return true;
}

bool Parser::outside_quotes(char c, CsvRow& fields) {
  if (c == delimiter_) {
    end_field(fields);
  } else if (c == '\n' || c == '\r') {
    fields.push_back(std::move(field_));
    line_end();
    return true;
  } else if (c == '"' && state_ == State::start) {
    state_ = State::quoted;
    quote_line_ = line_;
    ++at_;
  } else {
    // A quote inside an unquoted field (5'11") is kept as it is, as most writers mean.
    field_.push_back(c);
    state_ = State::unquoted;
    ++at_;
  }
  return false;
}

void Parser::inside_quotes(char c) {
  if (c == '"') {
    state_ = State::after_quote;
    ++at_;
  } else if (c == '\n' || c == '\r') {
    // A line break inside quotes is part of the field, as written (CRLF stays CRLF).
    const std::size_t from = at_;
    line_end();
    field_.append(text_.substr(from, at_ - from));
  } else {
    field_.push_back(c);
    ++at_;
  }
}

bool Parser::after_quote(char c, CsvRow& fields) {
  if (c == '"') {  // "" inside quotes: one quote
    field_.push_back('"');
    state_ = State::quoted;
    ++at_;
  } else if (c == delimiter_) {
    end_field(fields);
  } else if (c == '\n' || c == '\r') {
    fields.push_back(std::move(field_));
    line_end();
    return true;
  } else {
    throw DataError(
        fmt::format("{} line {}: '{}' after the closing quote of a field; a field that holds a "
                    "quote must be quoted whole, with the quote doubled (\"\")",
                    path_, line_, c));
  }
  return false;
}

void Parser::end_field(CsvRow& fields) {
  fields.push_back(std::move(field_));
  field_.clear();
  state_ = State::start;
  ++at_;
}

void Parser::line_end() {
  if (text_[at_] == '\r' && at_ + 1 < text_.size() && text_[at_ + 1] == '\n') ++at_;
  ++at_;
  ++line_;
}

bool needs_quotes(const std::string& field, char delimiter) {
  return field.find_first_of(std::string{delimiter, '"', '\n', '\r'}) != std::string::npos;
}

void append_record(std::string& out, const CsvRow& row, char delimiter) {
  if (row.size() == 1 && row[0].empty()) {
    out += "\"\"\n";  // a blank line would read back as no record at all
    return;
  }
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i > 0) out.push_back(delimiter);
    const std::string& f = row[i];
    if (!needs_quotes(f, delimiter)) {
      out += f;
      continue;
    }
    out.push_back('"');
    for (const char c : f) {
      if (c == '"') out.push_back('"');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('\n');
}

template <typename T>
std::string to_text(T value) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, r.ptr);
}

}  // namespace

std::vector<CsvRow> csv_read_file(const std::string& path, const CsvOptions& options,
                                  CsvRow* header_out) {
  check_delimiter(path, options.delimiter);
  const std::vector<std::byte> bytes = read_whole_file(path);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  // A UTF-8 byte order mark (spreadsheets write one) is not part of the first field.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);

  Parser parser(path, text, options.delimiter);
  std::vector<CsvRow> rows;
  CsvRow fields;
  std::size_t line = 0;
  std::size_t expected = options.columns;
  std::size_t expected_line = 0;  // the line that set `expected`; 0: options.columns did
  bool first = true;
  while (parser.next(fields, line)) {
    if (expected == 0) {
      expected = fields.size();
      expected_line = line;
    }
    if (fields.size() != expected) {
      throw DataError(fmt::format("{} line {}: {} field{}, expected {} ({})", path, line,
                                  fields.size(), fields.size() == 1 ? "" : "s", expected,
                                  expected_line == 0
                                      ? std::string("the columns option")
                                      : fmt::format("as in line {}", expected_line)));
    }
    if (first && options.header) {
      if (header_out != nullptr) *header_out = std::move(fields);
    } else {
      rows.push_back(std::move(fields));
    }
    fields = CsvRow();
    first = false;
  }
  if (first && options.header && header_out != nullptr) header_out->clear();
  return rows;
}

void csv_write_file(const std::string& path, const std::vector<CsvRow>& rows, const CsvRow& header,
                    const CsvOptions& options) {
  check_delimiter(path, options.delimiter);
  auto check = [&](const CsvRow& row, const std::string& what) {
    if (row.empty()) {
      throw DataError(fmt::format(
          "CSV file '{}': {} has no fields, which CSV cannot hold (a blank line is no record)",
          path, what));
    }
    if (options.columns != 0 && row.size() != options.columns) {
      throw DataError(
          fmt::format("CSV file '{}': {} has {} fields, expected {} (the columns "
                      "option)",
                      path, what, row.size(), options.columns));
    }
  };
  std::string out;
  if (options.header && !header.empty()) {
    check(header, "the header");
    append_record(out, header, options.delimiter);
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    check(rows[i], fmt::format("row {}", i));
    append_record(out, rows[i], options.delimiter);
  }

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), std::fclose);
  if (!f) {
    throw DataError(
        fmt::format("CSV file '{}': cannot create it ({})", path, std::strerror(errno)));
  }
  const bool wrote = std::fwrite(out.data(), 1, out.size(), f.get()) == out.size();
  const int saved = errno;
  // Closed here rather than by the deleter: a write-back failure shows in fclose's result.
  const bool closed = std::fclose(f.release()) == 0;
  if (!wrote || !closed) {
    throw DataError(fmt::format("CSV file '{}': writing it failed ({})", path,
                                std::strerror(!wrote ? saved : errno)));
  }
}

std::string csv_field(double value) { return to_text(value); }
std::string csv_field(std::int64_t value) { return to_text(value); }
std::string csv_field(std::uint64_t value) { return to_text(value); }

}  // namespace manta::data::files
