#include "admin/ui_assets.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace outpost::admin {

namespace detail {

// Written by cmake/EmbedFiles.cmake into the build directory (ui_assets_data.cpp).
struct EmbeddedFile {
    const char* path;
    const unsigned char* data;
    std::size_t size;
};
extern const EmbeddedFile kUiFiles[];
extern const std::size_t kUiFileCount;

}  // namespace detail

std::string_view content_type_for(std::string_view path) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kTypes = {{
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
    }};
    const auto slash = path.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    for (const auto& [ext, type] : kTypes) {
        if (name.size() > ext.size() && name.ends_with(ext)) return type;
    }
    return "application/octet-stream";
}

std::optional<Asset> find_ui_asset(std::string_view path) {
    if (path.starts_with('/')) path.remove_prefix(1);
    for (std::size_t i = 0; i < detail::kUiFileCount; ++i) {
        const detail::EmbeddedFile& f = detail::kUiFiles[i];
        if (path == f.path) {
            return Asset{f.path, content_type_for(f.path),
                         std::string_view(reinterpret_cast<const char*>(f.data), f.size)};
        }
    }
    return std::nullopt;
}

std::size_t ui_asset_count() { return detail::kUiFileCount; }

}  // namespace outpost::admin
