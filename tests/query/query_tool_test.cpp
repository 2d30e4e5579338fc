// `outpost query`: JSON lines, --count, --order with flags, --offset/--limit, --explain, and
// errors.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "common/process.hpp"
#include "query/query_support.hpp"

namespace outpost {
namespace {

struct ToolRun {
    int rc = -1;
    std::string out;
};

// Runs the tool with ARGS (a shell-quoted string); stdout and stderr together.
ToolRun run_tool(const std::string& args) {
    auto r =
        test::run_program({"/bin/sh", "-c", std::string(OUTPOST_TOOL_PATH) + " " + args + " 2>&1"},
                          "", std::chrono::seconds(60));
    return {r.exit_code.value_or(-1), r.out};
}

class QueryTool : public qtest::QueryStoreTest {
  protected:
    void SetUp() override {
        QueryStoreTest::SetUp();
        put("Person", {{"name", "Ada"}, {"age", 36}});
        put("Person", {{"name", "Bea"}, {"age", 17}});
        put("Person", {{"name", "Cy"}, {"age", 51}});
        db_ = store_->dir();
        store_.reset();  // the tool opens the store itself
    }
    std::string db_;
};

TEST_F(QueryTool, CountsPrintsAndOrders) {
    ToolRun r = run_tool("query --db " + db_ + " Person --where 'name == \"Bea\"' --count");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(r.out, "1\n");
    r = run_tool("query --db " + db_ + " Person --where 'age >= 18' --order age,desc");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(r.out,
              "{\"id\":3,\"name\":\"Cy\",\"age\":51,\"email\":null}\n"
              "{\"id\":1,\"name\":\"Ada\",\"age\":36,\"email\":null}\n");
    r = run_tool("query --db " + db_ + " Person --order name,desc --offset 1 --limit 1");
    EXPECT_EQ(r.out, "{\"id\":2,\"name\":\"Bea\",\"age\":17,\"email\":null}\n");
    r = run_tool("query --db " + db_ + " Person --count");
    EXPECT_EQ(r.out, "3\n");
    r = run_tool("query --db " + db_ + " Person --where 'name ^= \"A\"' --explain");
    EXPECT_EQ(r.out, "Person: index Person.name (^=) then filter: name ^= \"A\"\n");
}

TEST_F(QueryTool, ErrorsExitWithOne) {
    ToolRun r = run_tool("query --db " + db_ + " Person --where 'name =='");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find("column 8"), std::string::npos) << r.out;
    r = run_tool("query --db " + db_ + " Person --where 'nope == 1'");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find("no property nope"), std::string::npos) << r.out;
    r = run_tool("query --db " + db_ + " Person --order name,sideways");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find("unknown flag"), std::string::npos) << r.out;
    r = run_tool("query --db " + db_ + " Nobody");
    EXPECT_EQ(r.rc, 1);
}

}  // namespace
}  // namespace outpost
