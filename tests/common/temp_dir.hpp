#pragma once
// A fresh directory for one test, removed with everything in it when the TempDir goes out of scope.
// Declare it before anything that keeps a store open in it, so the store closes first.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace outpost::test {

class TempDir {
  public:
    // A new directory PREFIX-XXXXXX under BASE (created when missing; the system temp directory by
    // default). A failure to create it fails the test.
    explicit TempDir(std::string_view prefix = "outpost-test",
                     const std::filesystem::path& base = std::filesystem::temp_directory_path()) {
        std::error_code ec;
        std::filesystem::create_directories(base, ec);
        std::string tmpl = (base / (std::string(prefix) + "-XXXXXX")).string();
        if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << tmpl;
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    // The directory itself.
    const std::string& path() const { return path_; }
    // NAME inside it (not created).
    std::string sub(std::string_view name) const { return path_ + "/" + std::string(name); }

  private:
    std::string path_;
};

}  // namespace outpost::test
