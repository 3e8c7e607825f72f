// Everything in keel::core. Not keel/as_result.hpp: it needs Boost, and so
// the target keel::as_result.
#pragma once

#include <keel/attempt.hpp>
#include <keel/attempt_feedback.hpp>
#include <keel/backoff.hpp>
#include <keel/bulkhead.hpp>
#include <keel/circuit_breaker.hpp>
#include <keel/classified_category.hpp>
#include <keel/duration.hpp>
#include <keel/endpoint.hpp>
#include <keel/endpoint_circuit_breakers.hpp>
#include <keel/error.hpp>
#include <keel/fallback.hpp>
#include <keel/fault.hpp>
#include <keel/observer.hpp>
#include <keel/pipeline.hpp>
#include <keel/random.hpp>
#include <keel/reporting_pipeline.hpp>
#include <keel/retry.hpp>
#include <keel/strategy.hpp>
#include <keel/strategy_registry.hpp>
#include <keel/timeout.hpp>
#include <keel/with_deadline.hpp>
