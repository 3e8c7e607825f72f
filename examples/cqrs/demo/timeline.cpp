#include "timeline.hpp"

namespace cqrs::demo {

std::string worst_circuit_state(const std::map<std::string, double>& breakers_in_state) {
    std::string worst;
    for (const char* state : {"open", "half_open", "closed"}) {
        const auto it = breakers_in_state.find(state);
        if (it != breakers_in_state.end() && it->second > 0)
            return state;
        if (it != breakers_in_state.end())
            worst = "closed"; // the gauge exists: there is a breaker
    }
    return worst;
}

} // namespace cqrs::demo
