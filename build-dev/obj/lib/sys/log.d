build-dev/obj/lib/sys/log.o: lib/sys/log.c lib/sys/log.h lib/base/fmt.h
lib/sys/log.h:
lib/base/fmt.h:
