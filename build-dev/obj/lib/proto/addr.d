build-dev/obj/lib/proto/addr.o: lib/proto/addr.c lib/proto/addr.h
lib/proto/addr.h:
