// Stopping a run on request (a signal from Slurm or the user): no new task starts, running tasks finish, and
// Executor::run throws Error(kCancelled). Outputs written so far stay valid (io's journal), so the work can
// be resumed.
#pragma once

namespace tessera {

// Asks every run in this process to stop. Async-signal-safe: call it from a signal handler. Under MPI, rank 0
// (the scheduler) acts on it and ends the run on every rank; a worker's request is ignored, so signals that
// reach every rank (srun forwards them) stop the job once.
void request_stop(int signal = 0) noexcept;
bool stop_requested() noexcept;
// The signal given to request_stop (0 when none).
int stop_signal() noexcept;
// Forgets a request (before a new run that should not stop at once).
void clear_stop() noexcept;

// Makes SIGUSR1, SIGUSR2 and SIGTERM call request_stop for the rest of the process's life (SIGINT too when
// `interrupt`). What the CLI's `tessera run` does; a program embedding tessera may prefer its own handlers.
void install_stop_handlers(bool interrupt = true);
// Whether install_stop_handlers() was called (the MPI executor's own SIGTERM notice then stays out of the
// way).
bool stop_handlers_installed() noexcept;

// "stopped on request (SIGUSR1) with 120 of 400 tasks done": what a stopped run's error says.
const char* signal_name(int signal) noexcept;

}  // namespace tessera
