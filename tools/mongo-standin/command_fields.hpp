// The fields each command accepts, as MongoDB 6.0's command definitions list them: an unknown
// field is error 40415, an option the stand-in does not implement is refused with a clear error
// instead of being ignored (which would give a silently different answer).
#pragma once

#include <string>

#include "bson_util.hpp"

namespace standin {

// Checks the fields of command NAME in CMD (the generic arguments every command takes are always
// allowed; commands without a field table are not checked). Errors: 40415 unknown field,
// 115 an option the stand-in does not implement, 2 a value it cannot honour.
Status check_command_fields(const std::string& name, const bson_t* cmd);

// Checks the statements of an update or delete (the `updates`/`deletes` array of CMD) the same
// way, before any of them runs.
Status check_statement_fields(const std::string& name, const bson_t* cmd);

// Error 115 unless COLLATION (a collation document) is the simple binary comparison, the only one
// the stand-in implements.
Status check_collation(const bson_iter_t* collation);

}  // namespace standin
