// Test helper: the values in a prometheus::Registry, read the way a scrape
// reads them (Registry::Collect).
#pragma once

#include <gtest/gtest.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace keel::test {

using labels = std::map<std::string, std::string>;
/// Values by label value: {"success": 1, "failure": 0, ...}.
using counts = std::map<std::string, double>;

/// Every label value of `all` at zero except those given (each of which
/// must be one of `all`).
inline counts only(const std::vector<std::string>& all, const counts& nonzero) {
    counts out;
    for (const auto& v : all)
        out[v] = 0;
    for (const auto& [k, v] : nonzero) {
        EXPECT_TRUE(out.count(k)) << "not a label value: " << k;
        out[k] = v;
    }
    return out;
}

class snapshot {
public:
    explicit snapshot(const std::shared_ptr<::prometheus::Registry>& registry)
        : families_(registry->Collect()) {}

    /// The series of `family` whose labels include `match`.
    std::vector<::prometheus::ClientMetric> series(const std::string& family,
                                                   const labels& match = {}) const {
        std::vector<::prometheus::ClientMetric> out;
        for (const auto& f : families_) {
            if (f.name != family)
                continue;
            for (const auto& m : f.metric) {
                bool all = true;
                for (const auto& [name, value] : match) {
                    bool found = false;
                    for (const auto& l : m.label)
                        found = found || (l.name == name && l.value == value);
                    all = all && found;
                }
                if (all)
                    out.push_back(m);
            }
        }
        return out;
    }

    /// The one series of `family` with exactly these labels; fails the test
    /// (and returns a zero metric) if there is not exactly one.
    ::prometheus::ClientMetric one(const std::string& family, const labels& match) const {
        auto found = series(family, match);
        std::vector<::prometheus::ClientMetric> exact;
        for (const auto& m : found)
            if (m.label.size() == match.size())
                exact.push_back(m);
        EXPECT_EQ(exact.size(), 1u) << family << " with " << describe(match);
        return exact.empty() ? ::prometheus::ClientMetric{} : exact.front();
    }

    double counter(const std::string& family, const labels& match) const {
        return one(family, match).counter.value;
    }
    double gauge(const std::string& family, const labels& match) const {
        return one(family, match).gauge.value;
    }
    ::prometheus::ClientMetric::Histogram histogram(const std::string& family,
                                                    const labels& match) const {
        return one(family, match).histogram;
    }

    /// Every series of a counter family for `dependency`, by the value of
    /// its other label: {"success": 1, "failure": 0, ...}.
    std::map<std::string, double> by(const std::string& family, const std::string& dependency,
                                     const std::string& label) const {
        std::map<std::string, double> out;
        for (const auto& m : series(family, {{"dependency", dependency}}))
            for (const auto& l : m.label)
                if (l.name == label)
                    out[l.value] = m.counter.value;
        return out;
    }

    static std::string describe(const labels& match) {
        std::string out = "{";
        for (const auto& [k, v] : match)
            out += k + "=\"" + v + "\",";
        return out + "}";
    }

private:
    std::vector<::prometheus::MetricFamily> families_;
};

} // namespace keel::test
