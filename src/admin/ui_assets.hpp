#pragma once
// The web UI's files, built into the program (every file under src/admin/ui/, embedded by
// cmake/EmbedFiles.cmake): no files to install, nothing fetched at run time.

#include <cstddef>
#include <optional>
#include <string_view>

namespace outpost::admin {

struct Asset {
    std::string_view path;          // relative to src/admin/ui/, e.g. "index.html", "img/logo.svg"
    std::string_view content_type;  // from the extension (content_type_for)
    std::string_view body;
};

// The file at PATH (relative to src/admin/ui/; a leading '/' is ignored), or nullopt.
std::optional<Asset> find_ui_asset(std::string_view path);

// The Content-Type for PATH's extension: html, js, css, svg, png, ico, json (text types with
// charset=utf-8); application/octet-stream for others.
std::string_view content_type_for(std::string_view path);

// Every embedded file (for tests and listings).
std::size_t ui_asset_count();

}  // namespace outpost::admin
