// Shapes: a small geometry library used to test the C++ extractor.
//
// It covers namespaces of every form, classes with the usual members,
// templates and out-of-line definitions.

#pragma once

#include <memory>
#include <vector>
#include "geometry/point.h"

#define SHAPES_VERSION 3
#define SHAPES_CHECK(cond, msg) \
  do {                          \
    if (!(cond)) throw msg;     \
  } while (0)

namespace geo {
namespace shapes {

/// Colours a shape can be drawn in.
enum class Color : unsigned char { Red, Green, Blue };

constexpr double kPi = 3.14159;

/// Abstract base of every shape.
class Shape {
 public:
  virtual ~Shape();
  virtual double area() const = 0;
  virtual const char* name() const = 0;
  bool operator<(const Shape& other) const { return area() < other.area(); }
};

/// A circle of a given radius.
class Circle final : public Shape {
 public:
  explicit Circle(double radius);
  double area() const override;
  const char* name() const override { return "circle"; }

  struct Bounds {
    double width;
    double height;
  };
  Bounds bounds() const;

 private:
  double radius_;
};

// A fixed-size collection of shapes.
template <typename T, int N>
class Bag {
 public:
  void add(std::unique_ptr<T> item);
  T& operator[](int index);
  int size() const { return count_; }

 private:
  std::unique_ptr<T> items_[N];
  int count_ = 0;
};

double total_area(const std::vector<Shape*>& shapes);
double total_area(const Shape* const* shapes, int count);

}  // namespace shapes
}  // namespace geo

namespace geo::io {

void print(const shapes::Shape& shape);

}  // namespace geo::io

namespace {

int helper_count = 0;

void bump() { ++helper_count; }

}  // namespace

namespace geo {
namespace shapes {

Shape::~Shape() = default;

Circle::Circle(double radius) : radius_(radius) {}

double Circle::area() const { return kPi * radius_ * radius_; }

Circle::Bounds Circle::bounds() const {
  return Bounds{2 * radius_, 2 * radius_};
}

template <typename T, int N>
void Bag<T, N>::add(std::unique_ptr<T> item) {
  items_[count_++] = std::move(item);
}

}  // namespace shapes
}  // namespace geo
