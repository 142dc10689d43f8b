#pragma once

namespace iothub::cli {

// SIGINT / SIGTERM turned into a flag the CLI's waits poll (so a wait can clean up: give back the
// feedback it holds, end a stream with exit 0). The first signal sets the flag and restores the
// default action, so a second one ends the process at once.
// Install once from main before any thread starts; Requested is async-signal-safe and any-thread.
void InstallInterruptHandlers();
bool InterruptRequested();

}  // namespace iothub::cli
