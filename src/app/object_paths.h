// The object paths each route's request may name, declared in one table so
// that every bucket check of the API can be read (and tested) in one place.
#pragma once
#include "http/router.h"

namespace atelier::app {

// Sets Route::object_paths on the routes of the table. Throws
// std::logic_error when the table names a route the router does not have.
void declare_object_paths(http::Router& router);

}  // namespace atelier::app
