build-dev/obj/lib/base/fmt.o: lib/base/fmt.c lib/base/fmt.h
lib/base/fmt.h:
