# The platform layer: which readiness driver the library uses and which Linux-only calls exist
# (src/io_driver.h, src/compat.h). Decided by feature checks, not by the OS name.
#
# Options:
#   ASYNCC_IO_BACKEND        (epoll where <sys/epoll.h> exists, else libevent) the readiness
#                            driver: epoll (src/io_epoll.c, the Linux fast path) or libevent
#                            (src/io_libevent.c: libevent's per-fd events, for every platform).
#   ASYNCC_FORCE_FALLBACKS   (OFF) use the portable fallback for every Linux-only call even where
#                            the call exists, so that a Linux build tests what BSD and macOS run.
#
# Sets ASYNCC_IO_BACKEND_SOURCE (the driver's file) and ASYNCC_PLATFORM_DEFINITIONS (private
# compile definitions of the library: every ASYNCC_HAVE_* is defined, to 0 or 1).

include(CheckSymbolExists)
include(CheckIncludeFile)

check_include_file(sys/epoll.h ASYNCC_HAVE_SYS_EPOLL_H)
if(ASYNCC_HAVE_SYS_EPOLL_H)
    set(asyncc_default_backend epoll)
else()
    set(asyncc_default_backend libevent)
endif()
set(ASYNCC_IO_BACKEND ${asyncc_default_backend} CACHE STRING
    "Readiness driver: epoll (Linux fast path) or libevent (portable)")
set_property(CACHE ASYNCC_IO_BACKEND PROPERTY STRINGS epoll libevent)
option(ASYNCC_FORCE_FALLBACKS "Use the portable fallbacks of Linux-only calls even on Linux" OFF)

if(ASYNCC_IO_BACKEND STREQUAL "epoll")
    if(NOT ASYNCC_HAVE_SYS_EPOLL_H)
        message(FATAL_ERROR "ASYNCC_IO_BACKEND=epoll needs <sys/epoll.h>; use libevent")
    endif()
    set(ASYNCC_IO_BACKEND_SOURCE ${PROJECT_SOURCE_DIR}/src/io_epoll.c)
    set(ASYNCC_PLATFORM_DEFINITIONS ASYNCC_IO_BACKEND_LIBEVENT=0)
elseif(ASYNCC_IO_BACKEND STREQUAL "libevent")
    set(ASYNCC_IO_BACKEND_SOURCE ${PROJECT_SOURCE_DIR}/src/io_libevent.c)
    set(ASYNCC_PLATFORM_DEFINITIONS ASYNCC_IO_BACKEND_LIBEVENT=1)
else()
    message(FATAL_ERROR "ASYNCC_IO_BACKEND must be epoll or libevent, not '${ASYNCC_IO_BACKEND}'")
endif()

# Each check's result (1 or empty) becomes ASYNCC_HAVE_<name>=0|1; forced fallbacks make all 0.
set(CMAKE_REQUIRED_DEFINITIONS -D_GNU_SOURCE)
check_symbol_exists(accept4 sys/socket.h ASYNCC_CHECK_ACCEPT4)
check_symbol_exists(SOCK_NONBLOCK sys/socket.h ASYNCC_CHECK_SOCK_NONBLOCK)
check_symbol_exists(SOCK_CLOEXEC sys/socket.h ASYNCC_CHECK_SOCK_CLOEXEC)
check_symbol_exists(MSG_NOSIGNAL sys/socket.h ASYNCC_CHECK_MSG_NOSIGNAL)
check_symbol_exists(SO_NOSIGPIPE sys/socket.h ASYNCC_CHECK_SO_NOSIGPIPE)
check_symbol_exists(eventfd sys/eventfd.h ASYNCC_CHECK_EVENTFD)
check_symbol_exists(CLOCK_MONOTONIC_COARSE time.h ASYNCC_CHECK_CLOCK_MONOTONIC_COARSE)
check_symbol_exists(strerrordesc_np string.h ASYNCC_CHECK_STRERRORDESC_NP)
check_symbol_exists(pipe2 unistd.h ASYNCC_CHECK_PIPE2)
check_symbol_exists(SYS_pidfd_open sys/syscall.h ASYNCC_CHECK_PIDFD_OPEN)
unset(CMAKE_REQUIRED_DEFINITIONS)

if(ASYNCC_CHECK_SOCK_NONBLOCK AND ASYNCC_CHECK_SOCK_CLOEXEC)
    set(ASYNCC_CHECK_SOCK_FLAGS 1)
endif()
foreach(feature IN ITEMS ACCEPT4 SOCK_FLAGS MSG_NOSIGNAL SO_NOSIGPIPE EVENTFD
        CLOCK_MONOTONIC_COARSE STRERRORDESC_NP PIPE2 PIDFD_OPEN)
    if(ASYNCC_CHECK_${feature} AND NOT ASYNCC_FORCE_FALLBACKS)
        list(APPEND ASYNCC_PLATFORM_DEFINITIONS ASYNCC_HAVE_${feature}=1)
    else()
        list(APPEND ASYNCC_PLATFORM_DEFINITIONS ASYNCC_HAVE_${feature}=0)
    endif()
endforeach()
if(ASYNCC_FORCE_FALLBACKS)
    list(APPEND ASYNCC_PLATFORM_DEFINITIONS ASYNCC_FORCE_FALLBACKS=1)
else()
    list(APPEND ASYNCC_PLATFORM_DEFINITIONS ASYNCC_FORCE_FALLBACKS=0)
endif()
message(STATUS "asyncc: I/O backend ${ASYNCC_IO_BACKEND}; ${ASYNCC_PLATFORM_DEFINITIONS}")
