build-dev/obj/lib/base/rnd.o: lib/base/rnd.c lib/base/rnd.h \
 lib/base/codec.h lib/base/buf.h
lib/base/rnd.h:
lib/base/codec.h:
lib/base/buf.h:
