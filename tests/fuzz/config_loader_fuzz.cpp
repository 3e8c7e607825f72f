// libFuzzer target over the configuration loader: any input must either load
// or be rejected with errors that each carry a position -- no crash, no leak,
// no hang (libFuzzer's -timeout catches the last).
#include <keel/config/document.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view yaml(reinterpret_cast<const char*>(data), size);
    keel::config::load_options options;
    // A fixed environment: the fuzzer explores ${VAR} handling, not the host.
    options.env = [](const std::string& name) -> std::optional<std::string> {
        if (name == "SET")
            return std::string("value");
        return std::nullopt;
    };
    const keel::config::load_result result =
        keel::config::try_load_string(yaml, "fuzz.yaml", options);
    if (!result.doc && result.errors.empty()) {
        std::fprintf(stderr, "rejected without a single error\n");
        std::abort();
    }
    for (const auto& e : result.errors) {
        if (e.where.line < 1 || e.where.column < 1 || e.message.empty()) {
            std::fprintf(stderr, "error without a position or message: %s\n",
                         e.to_string().c_str());
            std::abort();
        }
    }
    if (result.doc) {
        // What --explain prints must load back.
        const std::string explained = keel::config::explain(*result.doc);
        const auto again = keel::config::try_load_string(explained, "explained.yaml", options);
        if (!again.doc) {
            std::fprintf(stderr, "explain output does not load:\n%s\n", explained.c_str());
            for (const auto& e : again.errors)
                std::fprintf(stderr, "%s\n", e.to_string().c_str());
            std::abort();
        }
    }
    return 0;
}
