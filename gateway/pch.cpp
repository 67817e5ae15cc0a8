// Compiles the precompiled Asio/Beast header that the gateway targets reuse.
