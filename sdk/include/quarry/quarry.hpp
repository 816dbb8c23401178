// Everything a plugin needs.
#pragma once

#include "quarry/dataset.hpp"
#include "quarry/error.hpp"
#include "quarry/logger.hpp"
#include "quarry/model.hpp"
#include "quarry/params.hpp"
#include "quarry/plugin.hpp"
#include "quarry/random.hpp"
#include "quarry/strategy.hpp"
#include "quarry/version.hpp"
