#include "degrade/state.h"

#include <optional>
#include <string>
#include <string_view>

#include "core/str_util.h"

namespace degrade {

using internal::FormatNumber;

std::string_view StateName(State state) noexcept {
  switch (state) {
    case State::kOn:
      return "on";
    case State::kOff:
      return "off";
  }
  return "unknown";
}

std::string_view LayerName(Layer layer) noexcept {
  switch (layer) {
    case Layer::kDefault:
      return "default";
    case Layer::kFile:
      return "file";
    case Layer::kEnv:
      return "env";
    case Layer::kRemote:
      return "remote";
    case Layer::kBreaker:
      return "breaker";
    case Layer::kGovernor:
      return "governor";
    case Layer::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::optional<Layer> ParseLayerName(std::string_view name) noexcept {
  for (int i = 0; i < kLayerCount; ++i) {
    const Layer layer = static_cast<Layer>(i);
    if (LayerName(layer) == name) return layer;
  }
  return std::nullopt;
}

std::string_view FaultKindName(Fault::Kind kind) noexcept {
  switch (kind) {
    case Fault::Kind::kError:
      return "error";
    case Fault::Kind::kDelay:
      return "delay";
  }
  return "unknown";
}

std::string DescribeState(const EffectiveState& state) {
  std::string out(StateName(state.state));
  // allow means nothing while off, and 1 is plain on.
  if (state.state == State::kOn && state.allow != 1.0) {
    out += " allow=";
    out += FormatNumber(state.allow);
  }
  if (state.fault) {
    out += " fault=";
    out += FaultKindName(state.fault->kind);
    out += " rate=";
    out += FormatNumber(state.fault->rate);
    if (state.fault->delay_ms > 0) {
      out += " delay_ms=";
      out += std::to_string(state.fault->delay_ms);
    }
  }
  return out;
}

}  // namespace degrade
