// What the registry's strategy tests share: documents from text, edits of
// them, and a fixture with an io_context and a strategy registry of its own.
#pragma once

#include <keel/config/registry.hpp>

#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace keel::config::test {

inline document load(const std::string& text) {
    return load_string(text, "deps.yaml");
}

/// `text` with `from` replaced by `to` (once).
inline std::string edited(std::string text, const std::string& from, const std::string& to) {
    text.replace(text.find(from), from.size(), to);
    return text;
}

/// An io_context and a strategy registry of the test's own: registries
/// made by make() share strategies with each other, not with the process.
class registry_fixture : public ::testing::Test {
protected:
    std::unique_ptr<registry> make(const std::string& text) {
        return std::make_unique<registry>(context.get_executor(), load(text), observer_factory(),
                                          strategies);
    }

    asio::io_context context;
    keel::strategy_registry strategies;
};

} // namespace keel::config::test
