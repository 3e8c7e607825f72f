// Smoke test of the installed package: headers, library and error category.
#include <keel/error.hpp>

#include <iostream>
#include <system_error>

int main() {
    std::cout << keel::make_error_code(keel::errc::exchange_timeout).message() << '\n';
    return std::error_code(keel::errc::exchange_timeout) == keel::condition::timeout ? 0 : 1;
}
