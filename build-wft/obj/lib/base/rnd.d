build-wft/obj/lib/base/rnd.o: lib/base/rnd.c lib/base/rnd.h \
 lib/base/hex.h
lib/base/rnd.h:
lib/base/hex.h:
