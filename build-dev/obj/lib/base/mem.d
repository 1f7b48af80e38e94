build-dev/obj/lib/base/mem.o: lib/base/mem.c lib/base/mem.h
lib/base/mem.h:
