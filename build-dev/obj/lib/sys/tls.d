build-dev/obj/lib/sys/tls.o: lib/sys/tls.c lib/sys/tls.h lib/base/fmt.h
lib/sys/tls.h:
lib/base/fmt.h:
