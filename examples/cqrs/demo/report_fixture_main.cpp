// Writes the report of the fixed timeline to argv[1]: the screenshot test's
// input, made without running the demo.
#include "report.hpp"
#include "report_fixture.hpp"

#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: cqrs-demo-report-fixture OUT.html\n";
        return 2;
    }
    std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
    out << cqrs::demo::render_report(cqrs::demo::fixture_timeline());
    out.close();
    if (!out) {
        std::cerr << "cqrs-demo-report-fixture: cannot write " << argv[1] << "\n";
        return 1;
    }
    return 0;
}
