#include <keel/classified_category.hpp>
#include <keel/error.hpp>
#include <keel/fault.hpp>
#include <keel/retry.hpp>

#include <asio/error.hpp>
#include <gtest/gtest.h>

namespace keel {
namespace {

TEST(errors, keel_timeouts_match_the_timeout_condition) {
    for (errc e :
         {errc::timeout, errc::connect_timeout, errc::exchange_timeout, errc::deadline_exceeded}) {
        std::error_code ec = e;
        EXPECT_EQ(ec, condition::timeout) << ec.message();
        EXPECT_NE(ec, condition::cancelled) << ec.message();
        EXPECT_EQ(ec.category().name(), std::string("keel"));
        EXPECT_FALSE(ec.message().empty());
    }
}

constexpr errc local_refusals[] = {errc::circuit_open,           errc::bulkhead_full,
                                   errc::bulkhead_timeout,       errc::rate_limited,
                                   errc::retry_budget_exhausted, errc::throttled_locally};

TEST(errors, local_refusals_match_the_rejected_condition_only) {
    for (errc e : local_refusals) {
        std::error_code ec = e;
        EXPECT_EQ(ec, condition::rejected) << ec.message();
        EXPECT_NE(ec, condition::timeout) << ec.message();
        EXPECT_NE(ec, condition::cancelled) << ec.message();
        EXPECT_EQ(ec.category().name(), std::string("keel"));
        EXPECT_FALSE(ec.message().empty());
        EXPECT_EQ(ec.message().find("unknown"), std::string::npos) << ec.message();
    }
}

TEST(errors, the_rejected_condition_matches_nothing_else) {
    for (errc e :
         {errc::timeout, errc::connect_timeout, errc::exchange_timeout, errc::deadline_exceeded})
        EXPECT_NE(std::error_code(e), condition::rejected);
    EXPECT_NE(std::error_code(asio::error::operation_aborted), condition::rejected);
    EXPECT_NE(std::error_code(asio::error::connection_refused), condition::rejected);
    EXPECT_NE(std::make_error_code(std::errc::timed_out), condition::rejected);
    EXPECT_FALSE(std::error_condition(condition::rejected).message().empty());
}

TEST(errors, system_timeouts_match_too_but_other_errors_do_not) {
    EXPECT_EQ(std::make_error_code(std::errc::timed_out), condition::timeout);
    EXPECT_EQ(std::error_code(asio::error::timed_out), condition::timeout);
    EXPECT_NE(std::error_code(asio::error::connection_refused), condition::timeout);
    EXPECT_NE(std::make_error_code(std::errc::permission_denied), condition::timeout);
}

TEST(errors, cancellation_condition_matches_asio_and_std) {
    EXPECT_EQ(std::error_code(asio::error::operation_aborted), condition::cancelled);
    EXPECT_EQ(std::make_error_code(std::errc::operation_canceled), condition::cancelled);
    EXPECT_NE(std::error_code(errc::exchange_timeout), condition::cancelled);
}

TEST(errors, distinct_codes_stay_distinct) {
    EXPECT_NE(std::error_code(errc::connect_timeout), std::error_code(errc::exchange_timeout));
    EXPECT_EQ(std::error_code(errc::connect_timeout), errc::connect_timeout);
}

TEST(fault_classes, built_in_rules) {
    EXPECT_EQ(classify(asio::error::connection_refused), fault_class::transient);
    EXPECT_EQ(classify(asio::error::connection_reset), fault_class::transient);
    EXPECT_EQ(classify(asio::error::eof), fault_class::transient);
    EXPECT_EQ(classify(std::make_error_code(std::errc::host_unreachable)), fault_class::transient);
    EXPECT_EQ(classify(asio::error::operation_aborted), fault_class::cancelled);
    EXPECT_EQ(classify(asio::error::timed_out), fault_class::timeout);
    EXPECT_EQ(classify(errc::exchange_timeout), fault_class::timeout);
    EXPECT_EQ(classify(errc::deadline_exceeded), fault_class::timeout);
    EXPECT_EQ(classify(std::make_error_code(std::errc::permission_denied)), fault_class::permanent);
    EXPECT_EQ(classify(asio::error::host_not_found), fault_class::permanent);
}

TEST(fault_classes, local_refusals_are_rejected_and_timeouts_stay_timeouts) {
    for (errc e : local_refusals) {
        EXPECT_EQ(classify(e), fault_class::rejected) << std::error_code(e).message();
        EXPECT_EQ(classify_builtin(e), fault_class::rejected) << std::error_code(e).message();
    }
    for (errc e :
         {errc::timeout, errc::connect_timeout, errc::exchange_timeout, errc::deadline_exceeded}) {
        EXPECT_EQ(classify(e), fault_class::timeout) << std::error_code(e).message();
        EXPECT_EQ(classify_builtin(e), fault_class::timeout) << std::error_code(e).message();
    }
}

TEST(fault_classes, keels_category_states_its_own_classes) {
    const auto* own = dynamic_cast<const classified_category*>(&error_category());
    ASSERT_NE(own, nullptr);
    EXPECT_EQ(own->fault_of(static_cast<int>(errc::exchange_timeout)), fault_class::timeout);
    EXPECT_EQ(own->fault_of(static_cast<int>(errc::circuit_open)), fault_class::rejected);
    EXPECT_EQ(own->fault_of(9999), fault_class::permanent);
}

TEST(fault_classes, rejected_is_named_and_not_retried_by_default) {
    EXPECT_EQ(to_string(fault_class::rejected), "rejected");
    EXPECT_EQ(fault_class_count, static_cast<int>(fault_class::rejected) + 1);
    for (int i = 0; i < fault_class_count; ++i)
        EXPECT_NE(to_string(static_cast<fault_class>(i)), "unknown") << i;
    EXPECT_FALSE(retry_policy{}.retry_on.contains(fault_class::rejected));
}

class http_like_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "test.http"; }
    std::string message(int v) const override { return "status " + std::to_string(v); }
};

const http_like_category& http_like() {
    static http_like_category c;
    return c;
}

TEST(fault_classes, users_extend_classification_per_category) {
    const std::error_code throttled(429, http_like());
    const std::error_code unavailable(503, http_like());
    const std::error_code bad_request(400, http_like());
    EXPECT_EQ(classify(throttled), fault_class::permanent) << "unknown categories are permanent";
    register_classifier(http_like(), [](const std::error_code& ec, fault_class& out) {
        if (ec.value() == 429 || ec.value() == 503) {
            out = fault_class::throttled;
            return true;
        }
        return false; // everything else: the built-in rules
    });
    EXPECT_EQ(classify(throttled), fault_class::throttled);
    EXPECT_EQ(classify(unavailable), fault_class::throttled);
    EXPECT_EQ(classify(bad_request), fault_class::permanent);
    unregister_classifier(http_like());
    EXPECT_EQ(classify(throttled), fault_class::permanent);
}

TEST(fault_classes, users_can_override_a_built_in_category) {
    register_classifier(std::system_category(), [](const std::error_code& ec, fault_class& out) {
        if (ec == std::errc::permission_denied) {
            out = fault_class::transient;
            return true;
        }
        return false;
    });
    EXPECT_EQ(classify(std::error_code(EACCES, std::system_category())), fault_class::transient);
    EXPECT_EQ(classify(std::error_code(ECONNREFUSED, std::system_category())),
              fault_class::transient);
    unregister_classifier(std::system_category());
    EXPECT_EQ(classify(std::error_code(EACCES, std::system_category())), fault_class::permanent);
}

/// A category that states its own classes, as a library built on keel would.
class self_classified_category final : public classified_category {
public:
    const char* name() const noexcept override { return "test.self_classified"; }
    std::string message(int v) const override { return "code " + std::to_string(v); }
    fault_class fault_of(int v) const noexcept override {
        return v == 1 ? fault_class::throttled : fault_class::permanent;
    }
};

const self_classified_category& self_classified() {
    static self_classified_category c;
    return c;
}

TEST(fault_classes, a_classified_category_answers_without_registration) {
    EXPECT_EQ(classify(std::error_code(1, self_classified())), fault_class::throttled);
    EXPECT_EQ(classify(std::error_code(2, self_classified())), fault_class::permanent);
}

TEST(fault_classes, a_registered_classifier_overrides_the_categorys_own_answer) {
    register_classifier(self_classified(), [](const std::error_code& ec, fault_class& out) {
        if (ec.value() == 2) {
            out = fault_class::transient;
            return true;
        }
        return false; // the category's own answer
    });
    EXPECT_EQ(classify(std::error_code(2, self_classified())), fault_class::transient);
    EXPECT_EQ(classify(std::error_code(1, self_classified())), fault_class::throttled);
    unregister_classifier(self_classified());
    EXPECT_EQ(classify(std::error_code(2, self_classified())), fault_class::permanent);
}

TEST(fault_classes, users_can_override_keels_own_codes) {
    register_classifier(error_category(), [](const std::error_code& ec, fault_class& out) {
        if (ec == errc::rate_limited) {
            out = fault_class::throttled;
            return true;
        }
        return false;
    });
    EXPECT_EQ(classify(errc::rate_limited), fault_class::throttled);
    EXPECT_EQ(classify(errc::circuit_open), fault_class::rejected);
    unregister_classifier(error_category());
    EXPECT_EQ(classify(errc::rate_limited), fault_class::rejected);
}

TEST(fault_classes, fault_set_membership) {
    fault_set s{fault_class::transient, fault_class::timeout};
    EXPECT_TRUE(s.contains(fault_class::transient));
    EXPECT_TRUE(s.contains(fault_class::timeout));
    EXPECT_FALSE(s.contains(fault_class::throttled));
    s.insert(fault_class::throttled);
    s.erase(fault_class::transient);
    EXPECT_TRUE(s.contains(fault_class::throttled));
    EXPECT_FALSE(s.contains(fault_class::transient));
    EXPECT_TRUE(fault_set{}.empty());
    fault_set all;
    for (int i = 0; i < fault_class_count; ++i)
        all.insert(static_cast<fault_class>(i));
    for (int i = 0; i < fault_class_count; ++i)
        EXPECT_TRUE(all.contains(static_cast<fault_class>(i))) << i;
    all.erase(fault_class::rejected);
    EXPECT_FALSE(all.contains(fault_class::rejected));
    EXPECT_TRUE(all.contains(fault_class::cancelled));
}

} // namespace
} // namespace keel
