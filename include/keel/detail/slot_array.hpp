// The per-slot state of a call (attempt slots, their signals and waiters) in
// place, built only as far as the call uses it: the first slot with the
// call, a further one when a hedge first needs it. A call on the parallel
// engine keeps room for five attempts, yet most never hedge: building and
// scanning all five made such a call cost half as much again (issue 24).
#pragma once

#include <new>
#include <type_traits>

namespace keel::detail {

/// Room for N objects of T, default-initialised (what T leaves uninitialised
/// on purpose stays so): element 0 with the array, element i by open(i), in
/// order. Destroys the elements it built.
template <class T, int N>
class slot_array {
    static_assert(N >= 1);
    /// Whether it must remember how far it built, to destroy that far.
    static constexpr bool counts = N > 1 && !std::is_trivially_destructible_v<T>;

public:
    slot_array() noexcept(std::is_nothrow_default_constructible_v<T>) {
        ::new (static_cast<void*>(&items_[0])) T;
        if constexpr (counts)
            opened_ = 1;
    }
    slot_array(const slot_array&) = delete;
    slot_array& operator=(const slot_array&) = delete;
    ~slot_array() {
        if constexpr (N == 1 || counts)
            items_[0].~T();
        if constexpr (counts)
            for (int i = 1; i < opened_; ++i) // rare: a call that hedged
                items_[i].~T();
    }

    /// Builds element `i`, the first not built yet (every element before it
    /// is), and returns it.
    T& open(int i) noexcept(std::is_nothrow_default_constructible_v<T>) {
        static_assert(N > 1, "a one-slot array has its only element from the start");
        T* item = ::new (static_cast<void*>(&items_[i])) T;
        if constexpr (counts)
            opened_ = i + 1;
        return *item;
    }

    T& operator[](int i) noexcept { return items_[i]; }
    const T& operator[](int i) const noexcept { return items_[i]; }

private:
    union {
        T items_[N]; ///< built by the constructor and open(), not by the union
    };
    struct no_count {};
    [[no_unique_address]] std::conditional_t<counts, int, no_count> opened_{};
};

} // namespace keel::detail
