// A YAML file as positioned values, and a policy document read from a tree
// inside another file (keel-sim's inline `policy:`).
#include <keel/config/yaml_file.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keel::config {
namespace {

using namespace std::chrono_literals;

TEST(config_yaml_file, values_keep_their_positions) {
    std::vector<diagnostic> errors;
    const std::optional<value> root = parse_yaml("a: 1\nb:\n  c: [x, y]\n", "s.yaml", errors);
    ASSERT_TRUE(root) << (errors.empty() ? "" : errors[0].to_string());
    EXPECT_TRUE(errors.empty());
    const value* c = root->find("b")->find("c");
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(c->kind(), value::type::sequence);
    EXPECT_EQ(c->items()[1].scalar(), "y");
    EXPECT_EQ(c->items()[1].where().file, "s.yaml");
    EXPECT_EQ(c->items()[1].where().line, 3);
    EXPECT_EQ(c->items()[1].where().column, 10);
}

TEST(config_yaml_file, syntax_errors_and_empty_documents_are_reported) {
    std::vector<diagnostic> errors;
    EXPECT_FALSE(parse_yaml("a: [1, 2\n", "s.yaml", errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].where.file, "s.yaml");
    errors.clear();
    EXPECT_FALSE(parse_yaml("", "e.yaml", errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].to_string(), "e.yaml:1:1: error: empty document");
}

TEST(config_yaml_file, a_missing_file_is_one_error_at_its_path) {
    std::vector<diagnostic> errors;
    EXPECT_FALSE(parse_yaml_file("/nonexistent/keel/scenario.yaml", errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].where.file, "/nonexistent/keel/scenario.yaml");
    EXPECT_NE(errors[0].message.find("cannot read the file"), std::string::npos);
}

TEST(config_yaml_file, a_policy_inside_another_file_loads_with_that_files_positions) {
    std::vector<diagnostic> errors;
    const std::optional<value> root = parse_yaml(R"(seed: 3
policy:
  version: 1
  dependencies:
    payments:
      retry: { max_attempts: 5 }
)",
                                                 "scenario.yaml", errors);
    ASSERT_TRUE(root);
    const load_result loaded = try_load_value(*root->find("policy"), "scenario.yaml");
    ASSERT_TRUE(loaded.doc) << loaded.errors[0].to_string();
    const dependency* payments = loaded.doc->find("payments");
    ASSERT_NE(payments, nullptr);
    EXPECT_EQ(payments->policy.retry.max_attempts, 5);
    EXPECT_EQ(payments->where.line, 5);

    const std::optional<value> bad = parse_yaml(R"(policy:
  version: 1
  dependencies:
    payments:
      retry: { max_atempts: 5 }
)",
                                                "scenario.yaml", errors);
    ASSERT_TRUE(bad);
    const load_result refused = try_load_value(*bad->find("policy"), "scenario.yaml");
    EXPECT_FALSE(refused.doc);
    ASSERT_EQ(refused.errors.size(), 1u);
    EXPECT_EQ(refused.errors[0].where.line, 5);
    EXPECT_EQ(refused.errors[0].where.column, 16);
}

TEST(config_yaml_file, a_policy_that_is_not_a_map_is_refused_where_it_is) {
    std::vector<diagnostic> errors;
    const std::optional<value> root = parse_yaml("policy: [1]\n", "scenario.yaml", errors);
    ASSERT_TRUE(root);
    const load_result refused = try_load_value(*root->find("policy"), "scenario.yaml");
    EXPECT_FALSE(refused.doc);
    ASSERT_EQ(refused.errors.size(), 1u);
    EXPECT_EQ(refused.errors[0].to_string(),
              "scenario.yaml:1:9: error: expected a map with 'version: 1' and 'dependencies:', "
              "got a sequence");
}

} // namespace
} // namespace keel::config
