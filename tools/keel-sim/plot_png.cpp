// keel-sim's --plot FILE.png: the plot's SVG rendered with librsvg onto a cairo image.
// Alone in this file so that a keel-sim built without librsvg needs none of its headers.
#include "plot.hpp"

#include <stdexcept>

#if KEEL_SIM_PNG
#include <cairo.h>
#include <librsvg/rsvg.h>

#include <cmath>
#include <memory>
#endif

namespace keel::sim {

#if KEEL_SIM_PNG

namespace {

struct gobject_unref {
    void operator()(gpointer object) const { g_object_unref(object); }
};
struct cairo_surface_destroyer {
    void operator()(cairo_surface_t* surface) const { cairo_surface_destroy(surface); }
};
struct cairo_destroyer {
    void operator()(cairo_t* context) const { cairo_destroy(context); }
};

/// Takes ownership of a GError and says what it was.
std::string message_of(GError* error) {
    std::string message = error != nullptr ? error->message : "unknown error";
    if (error != nullptr) {
        g_error_free(error);
    }
    return message;
}

} // namespace

void write_png(const std::string& svg, const std::string& path) {
    GError* error = nullptr;
    const std::unique_ptr<RsvgHandle, gobject_unref> handle(
        rsvg_handle_new_from_data(reinterpret_cast<const guint8*>(svg.data()), svg.size(), &error));
    if (!handle) {
        throw std::runtime_error("cannot read the plot's SVG for " + path + ": " +
                                 message_of(error));
    }
    double width = 0, height = 0;
    if (!rsvg_handle_get_intrinsic_size_in_pixels(handle.get(), &width, &height) ||
        !(width >= 1 && height >= 1)) {
        throw std::runtime_error("cannot render " + path + ": the plot's SVG has no pixel size");
    }
    const std::unique_ptr<cairo_surface_t, cairo_surface_destroyer> surface(
        cairo_image_surface_create(CAIRO_FORMAT_ARGB32, static_cast<int>(std::ceil(width)),
                                   static_cast<int>(std::ceil(height))));
    if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
        throw std::runtime_error("cannot render " + path + ": " +
                                 cairo_status_to_string(cairo_surface_status(surface.get())));
    }
    const std::unique_ptr<cairo_t, cairo_destroyer> context(cairo_create(surface.get()));
    const RsvgRectangle viewport{0, 0, width, height};
    if (!rsvg_handle_render_document(handle.get(), context.get(), &viewport, &error)) {
        throw std::runtime_error("cannot render " + path + ": " + message_of(error));
    }
    const cairo_status_t written = cairo_surface_write_to_png(surface.get(), path.c_str());
    if (written != CAIRO_STATUS_SUCCESS) {
        throw std::runtime_error("cannot write " + path + ": " + cairo_status_to_string(written));
    }
}

#else

void write_png(const std::string&, const std::string&) {
    throw std::runtime_error(
        "this keel-sim was built without PNG support (librsvg2-dev); write .svg instead");
}

#endif

} // namespace keel::sim
